"""The scan for personal data the spec does not declare: a sample of rows through Presidio's pattern recognisers.

Every spec column not named in `spec.sensitive` (a string or an int column: numbers kept as text are
where card numbers and phone numbers hide) is scanned on a sample of at most `SAMPLE_ROWS` rows, drawn
uniformly from every batch validate reads. A value is a hit for a kind when one of Presidio's predefined
recognisers finds it there with a score of at least `MIN_SCORE`; a kind that hits at least `MIN_SHARE`
of the column's non-empty sampled values refuses the run, naming the column, the kind, the share and a
masked example.

What makes a hit, per kind (the recognisers' own scores, Presidio's own context rule):
- email, card (Luhn), IBAN (its check digits): validated by the recogniser, score 1.0;
- IP address: 0.6, its pattern alone;
- US SSN: 0.5 for `ddd-dd-dddd` (Presidio drops the known invalid numbers); bare 9 digits only in context;
- phone: 0.4 on its own, below the bar: a 10-digit order id parses as a phone number too. It counts
  when the column's name holds one of the recogniser's context words (`phone`, `mobile`, ...; the
  generic `number` is left out so `order_number` is not context) or the value carries an international
  `+` prefix, which no id does; context raises a score by Presidio's default factor, 0.35.
Only Presidio's pattern recognisers run (no language model): `nlp_artifacts` is None. The email
recogniser's domain check uses tldextract's bundled suffix list, never the network.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Collection, Iterable, Iterator

import numpy as np
import pandas as pd
import tldextract
from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

from components.common.specs.base import DatasetSpec

SAMPLE_ROWS = 2_000
MIN_SHARE = 0.10
MIN_SCORE = 0.5
# Presidio's default context_similarity_factor: what a context word adds to a score.
CONTEXT_BOOST = 0.35
# Context words too generic to mean anything in a column's name.
GENERIC_CONTEXT = frozenset({"number", "transaction", "call", "security"})
SCANNED_TYPES = ("string", "int")
# The fewest digits of a phone number with its area code, in the regions the phone recogniser knows.
MIN_PHONE_DIGITS = 7


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recogniser, its domain check on tldextract's bundled suffix list (no download)."""

    _domains = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self._domains(pattern_text).fqdn != ""


@dataclass(frozen=True)
class Kind:
    """One kind of personal data: its words in a refusal, its recogniser and how an example is masked."""

    name: str
    recognizer: EntityRecognizer
    keep_last: int  # digits or characters of an example left readable


@cache
def kinds() -> tuple[Kind, ...]:
    return (
        Kind("email address", _OfflineEmailRecognizer(), 0),
        Kind("payment card number", CreditCardRecognizer(), 4),
        Kind("IBAN", IbanRecognizer(), 4),
        Kind("US social security number", UsSsnRecognizer(), 2),
        Kind("IP address", IpRecognizer(), 0),
        Kind("phone number", PhoneRecognizer(), 2),
    )


@dataclass(frozen=True)
class Finding:
    """A kind of personal data found in an undeclared column of the sample."""

    column: str
    kind: str
    hits: int
    values: int
    example: str  # masked

    @property
    def share(self) -> float:
        return self.hits / self.values

    def describe(self) -> str:
        return (
            f"column '{self.column}': {self.kind} in {self.share:.0%} of {self.values} sampled non-empty values "
            f"(e.g. {self.example}), and the spec does not declare it; declare it in the spec's `sensitive` "
            "(Drop, Pseudonymize, Generalize or Keep with a reason) or remove the column"
        )


class Sample:
    """At most `size` rows drawn uniformly from frames seen one at a time: each row gets a seeded random key,
    the `size` smallest keys stay (so the sample does not depend on how the rows were batched into frames).
    """

    def __init__(self, size: int = SAMPLE_ROWS, seed: int = 0) -> None:
        self.size, self.rng = size, np.random.default_rng(seed)
        self.rows: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame) -> None:
        keyed = frame.assign(_key=self.rng.random(len(frame)))
        both = keyed if self.rows is None else pd.concat([self.rows, keyed], ignore_index=True)
        self.rows = both.nsmallest(self.size, "_key") if len(both) > self.size else both

    def through(self, frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The frames, unchanged, sampled on their way."""
        for frame in frames:
            self.add(frame)
            yield frame

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame() if self.rows is None else self.rows.drop(columns="_key")


def scan_frame(frame: pd.DataFrame, spec: DatasetSpec, declared: Collection[str]) -> list[Finding]:
    """The findings in every scanned column of `frame` that `declared` does not name."""
    findings = []
    for name in frame.columns:
        if name in declared or name not in spec.column_names or spec.column(name).dtype not in SCANNED_TYPES:
            continue
        texts = [str(value).strip() for value in frame[name] if value is not None and not pd.isna(value)]
        finding = scan_column(name, [text for text in texts if text])
        if finding is not None:
            findings.append(finding)
    return findings


def scan_column(column: str, values: list[str]) -> Finding | None:
    """The kind with the largest share of hits in `values`, if that share is at least `MIN_SHARE`."""
    if not values:
        return None
    best: Finding | None = None
    header = set(re.findall(r"[a-z]+", column.lower()))
    counts = Counter(values)
    for kind in kinds():
        context = {word.strip() for word in kind.recognizer.context} - GENERIC_CONTEXT
        boost = CONTEXT_BOOST if header & context else 0.0
        found = {value: _match(kind, value, boost) for value in counts}
        hits = sum(counts[value] for value, match in found.items() if match is not None)
        if hits / len(values) >= MIN_SHARE and (best is None or hits > best.hits):
            example = next(match for match in found.values() if match is not None)
            best = Finding(column, kind.name, hits, len(values), mask(example, kind))
    return best


def _match(kind: Kind, value: str, boost: float) -> str | None:
    """The part of `value` the recogniser finds with a score of at least MIN_SCORE, given the context."""
    recognizer = kind.recognizer
    if isinstance(recognizer, PhoneRecognizer) and sum(character.isdigit() for character in value) < MIN_PHONE_DIGITS:
        return None  # the slowest recogniser (every region's rules) skips what cannot be a phone number
    for result in recognizer.analyze(value, recognizer.supported_entities, None):
        found = value[result.start : result.end]
        international = isinstance(recognizer, PhoneRecognizer) and found.startswith("+")
        score = result.score + (CONTEXT_BOOST if international else boost)
        if min(score, EntityRecognizer.MAX_SCORE) >= MIN_SCORE:
            return found
    return None


def mask(found: str, kind: Kind) -> str:
    """`found` with its letters and digits starred, but for its last `keep_last` ones; an email keeps
    the first letter of its name and of its domain and the domain's ending: `j***@e***.com`.
    """
    if "@" in found:
        name, _, domain = found.partition("@")
        host, _, ending = domain.rpartition(".")
        return f"{name[:1]}***@{host[:1]}***.{ending}"
    readable = sum(character.isalnum() for character in found) - kind.keep_last
    masked = []
    for character in found:
        if character.isalnum():
            masked.append("*" if readable > 0 else character)
            readable -= 1
        else:
            masked.append(character)
    return "".join(masked)
