"""A treatment applied to one raw Python value, exactly as the transform graph applies it to a tensor.

For what is written outside the graph (an input example, a baseline, a report): the same value gives the
same token here as in the graph (`tf.strings.to_hash_bucket_strong`, keyed SipHash-2-4; a unit test checks
they agree). The key comes from the environment variable PSEUDONYMIZE_KEY (a Kubernetes Secret on a
cluster); a spec with a Pseudonymize'd column and no key is refused, naming the variable.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from typing import Mapping

from components.common.specs.vocabulary.privacy import (
    PSEUDONYMIZE_KEY_VARIABLE,
    Drop,
    Generalize,
    Keep,
    Pseudonymize,
    Treatment,
)

MIN_KEY_CHARACTERS = 16
_MASK = (1 << 64) - 1
# An ISO date, or one generalised already (to its month or year): treating a treated value changes nothing.
_ISO_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-\d{2}.*)?)?", re.DOTALL)
# How a pseudonym is written where text is expected: this prefix and the bucket ("pseudonym-17").
PSEUDONYM_PREFIX = "pseudonym-"
_TOKEN = re.compile(PSEUDONYM_PREFIX + r"[0-9]{1,18}")
# What a dropped value becomes where a row must still have the column: nothing.
DROPPED = None


class MissingKeyError(RuntimeError):
    """Pseudonymisation asked for, and no usable key in the environment."""


def needs_key(sensitive: Mapping[str, Treatment]) -> bool:
    return any(isinstance(treatment, Pseudonymize) for treatment in sensitive.values())


def pseudonymize_key(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """The SipHash key (two 64-bit words) derived from PSEUDONYMIZE_KEY; refused when unset or short."""
    secret = (os.environ if environ is None else environ).get(PSEUDONYMIZE_KEY_VARIABLE, "")
    if len(secret) < MIN_KEY_CHARACTERS:
        state = "is not set" if not secret else f"has {len(secret)} characters"
        raise MissingKeyError(
            f"{PSEUDONYMIZE_KEY_VARIABLE} {state}; expected a secret of at least {MIN_KEY_CHARACTERS} characters "
            "to pseudonymise the spec's sensitive columns (see docs/privacy.md)"
        )
    digest = hashlib.sha256(secret.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:16], "little")


def siphash24(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of `data` under the 128-bit key (k0, k1): what TensorFlow's strong string hash computes."""
    k0, k1 = key
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(count: int) -> None:
        for _ in range(count):
            v[0] = (v[0] + v[1]) & _MASK
            v[1] = _rotate(v[1], 13) ^ v[0]
            v[0] = _rotate(v[0], 32)
            v[2] = (v[2] + v[3]) & _MASK
            v[3] = _rotate(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & _MASK
            v[3] = _rotate(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & _MASK
            v[1] = _rotate(v[1], 17) ^ v[2]
            v[2] = _rotate(v[2], 32)

    tail = len(data) % 8
    for start in range(0, len(data) - tail, 8):
        word = int.from_bytes(data[start : start + 8], "little")
        v[3] ^= word
        rounds(2)
        v[0] ^= word
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[len(data) - tail :], "little")
    v[3] ^= last
    rounds(2)
    v[0] ^= last
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def pseudonym(value: str, buckets: int, key: tuple[int, int]) -> int:
    """The bucket (token) of a text value: keyed SipHash modulo `buckets`, as in the graph; a token keeps its own."""
    if _TOKEN.fullmatch(value):
        return int(value[len(PSEUDONYM_PREFIX) :]) % buckets
    return siphash24(key, value.encode("utf-8")) % buckets


def as_text(value: object) -> str:
    """A raw value as the graph reads it as text: whole numbers without ".0"."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def generalize(treatment: Generalize, value: object) -> object:
    """The coarser value; a date that is not ISO becomes None (missing), as in the graph."""
    if treatment.bins is not None:
        number = float(value)  # type: ignore[arg-type]
        return max([edge for edge in treatment.bins if edge <= number], default=treatment.bins[0])
    text = as_text(value)
    if treatment.prefix is not None:
        return text[: treatment.prefix]
    match = _ISO_DATE.fullmatch(text)
    if match is None or (treatment.to == "month" and match.group(2) is None):
        return None
    return match.group(1) if treatment.to == "year" else f"{match.group(1)}-{match.group(2)}"


def treat_value(treatment: Treatment, value: object, key: tuple[int, int] | None = None) -> object:
    """The treated form of one raw value (None stays None): what every later step may see of it.

    A Pseudonymize'd value becomes its token as text ("pseudonym-" and the bucket), Drop'd becomes None.
    """
    if value is None or isinstance(treatment, Keep):
        return value
    if isinstance(treatment, Drop):
        return DROPPED
    if isinstance(treatment, Generalize):
        return generalize(treatment, value)
    if key is None:
        raise MissingKeyError("treat_value needs the key (pseudonymize_key()) for a Pseudonymize'd value")
    return token_text(pseudonym(as_text(value), treatment.buckets, key))


def token_text(bucket: int) -> str:
    """How a pseudonym is written where text is expected (the eval copy, an input example)."""
    return f"{PSEUDONYM_PREFIX}{bucket}"


def treat_row(
    sensitive: Mapping[str, Treatment], row: Mapping[str, object], key: tuple[int, int] | None = None
) -> dict[str, object]:
    """A raw row with every sensitive column treated and every Drop'd column removed."""
    treated: dict[str, object] = {}
    for name, value in row.items():
        treatment = sensitive.get(name)
        if treatment is None:
            treated[name] = value
        elif not isinstance(treatment, Drop):
            treated[name] = treat_value(treatment, value, key)
    return treated
