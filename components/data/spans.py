"""Spans: a DATA_URI with one placeholder that names a day (or a number), and a window of the newest ones.

`s3://b/trips/date={YYYY-MM-DD}/` means every folder `date=2026-12-01/`, `date=2026-12-02/`, ... under
`s3://b/trips/`. The placeholders:

- `{YYYY-MM-DD}`: a day, written 2026-12-01;
- `{YYYYMMDD}`: a day, written 20261201;
- `{SPAN}`: a whole number (0, 1, 2, ... or zero-padded: 007), ordered as numbers.

A span is named by its day in ISO form (2026-12-01) or by its number, whatever the spelling in the path.
The window of a run is the `window` consecutive spans (days, or numbers) ending at the newest span on or
before `at` (the run's start, or a scheduled run's scheduled time; spans after it are not seen, so a
rerun of an old schedule reads what it would have read then). A span of the window that does not exist
is missing: refused, naming it, unless the run allows missing spans (then logged). Without a window
(`window` None or 0) the window is every span from the oldest to the newest, and a gap is refused the same.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

DAY_FORMATS = {"{YYYY-MM-DD}": ("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"), "{YYYYMMDD}": ("%Y%m%d", r"\d{8}")}
NUMBER = "{SPAN}"
PLACEHOLDERS = (*DAY_FORMATS, NUMBER)
_GLOB = re.compile(r"[*?\[]")


class SpanError(ValueError):
    """A span pattern that cannot be read, no span under it, or a window with a missing span."""


def is_span_pattern(data_uri: str) -> bool:
    return any(placeholder in data_uri for placeholder in PLACEHOLDERS)


@dataclass(frozen=True)
class SpanPattern:
    """A DATA_URI split around its one placeholder."""

    uri: str
    placeholder: str
    before: str
    after: str

    @classmethod
    def parse(cls, uri: str) -> SpanPattern:
        found = [(uri.index(p), p) for p in PLACEHOLDERS if p in uri]
        if len(found) != 1 or uri.count(found[0][1]) != 1:
            raise SpanError(f"DATA_URI {uri}: expected exactly one of {list(PLACEHOLDERS)}, once")
        at, placeholder = found[0]
        before, after = uri[:at], uri[at + len(placeholder) :]
        if _GLOB.search(before):
            raise SpanError(f"DATA_URI {uri}: a wildcard before {placeholder}; expected a fixed prefix before it")
        return cls(uri, placeholder, before, after)

    @property
    def prefix(self) -> str:
        """The fixed folder the spans are listed under: `before` up to its last '/'."""
        return self.before[: self.before.rfind("/") + 1]

    def _matcher(self) -> re.Pattern[str]:
        """Matches a listed file whose path, up to the end of the placeholder's path segment, fits the pattern."""
        rest_of_segment = self.after.split("/", 1)[0]
        tail = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in rest_of_segment)
        form = DAY_FORMATS[self.placeholder][1] if self.placeholder in DAY_FORMATS else r"\d+"
        return re.compile(f"{re.escape(self.before)}(?P<span>{form}){tail}(?:/|$)")

    def span_of(self, text: str) -> str:
        """The span's name for the text matched in a path: an ISO day, or a number without padding."""
        if self.placeholder == NUMBER:
            return str(int(text))
        try:
            return datetime.strptime(text, DAY_FORMATS[self.placeholder][0]).date().isoformat()
        except ValueError:
            raise SpanError(f"{self.before}{text}: {text!r} is not a day written {self.placeholder}") from None

    def spans_in(self, listed: list[str]) -> dict[str, str]:
        """{span: its text in the path} for each listed file under a span."""
        matcher, found = self._matcher(), {}
        for uri in listed:
            match = matcher.match(uri)
            if match:
                found.setdefault(self.span_of(match["span"]), match["span"])
        return found

    def uri_of(self, span: str, text: str | None = None) -> str:
        """The DATA_URI of one span (a file, folder or glob, as the pattern writes it)."""
        if text is None:
            text = (
                span
                if self.placeholder == NUMBER
                else date.fromisoformat(span).strftime(DAY_FORMATS[self.placeholder][0])
            )
        return f"{self.before}{text}{self.after}"


def list_files(prefix: str, endpoint_url: str | None = None) -> list[str]:
    """Every file under a local folder (a path or file://) or an s3:// prefix, as URIs of the same kind, sorted."""
    if prefix.startswith("s3://"):
        from components.common.s3_client import s3_client, s3_keys
        from components.common.store_location import parse

        location = parse(prefix.rstrip("/"))
        keys = s3_keys(s3_client(endpoint_url), location, prefix)
        return sorted(f"s3://{location.bucket}/{key}" for key in keys.values())
    scheme = "file://" if prefix.startswith("file://") else ""
    root = prefix.removeprefix("file://")
    if not Path(root or ".").is_dir():
        return []
    files = []
    for folder, _, names in os.walk(root or "."):
        for name in names:
            path = os.path.join(folder, name)
            files.append(scheme + (path if root else os.path.relpath(path)))
    return sorted(files)


def resolve_spans(
    pattern_uri: str,
    window: int | None,
    at: date | None,
    allow_missing: bool,
    endpoint_url: str | None = None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """([(span, its DATA_URI)] oldest first, [missing spans]) for the window ending at the newest span <= `at`."""
    pattern = SpanPattern.parse(pattern_uri)
    existing = pattern.spans_in(list_files(pattern.prefix, endpoint_url))
    if not existing:
        raise SpanError(f"DATA_URI {pattern_uri}: no span under {pattern.prefix}")
    by_day = pattern.placeholder != NUMBER
    order = (lambda s: date.fromisoformat(s).toordinal()) if by_day else int
    name = (lambda n: date.fromordinal(n).isoformat()) if by_day else str
    candidates = sorted(order(s) for s in existing if not by_day or at is None or date.fromisoformat(s) <= at)
    if not candidates:
        raise SpanError(f"DATA_URI {pattern_uri}: no span on or before {at} (the oldest is {min(existing)})")
    newest = candidates[-1]
    oldest = newest - window + 1 if window else candidates[0]
    expected = [name(n) for n in range(oldest, newest + 1)]
    missing = [span for span in expected if span not in existing]
    first, last = expected[0], expected[-1]
    if missing and not allow_missing:
        raise SpanError(
            f"span {missing[0]} is missing ({pattern.uri_of(missing[0])} has no file) from the window "
            f"{first}..{last} of {pattern_uri}"
            + (f" and {len(missing) - 1} more: {missing[1:]}" if len(missing) > 1 else "")
            + "; set ALLOW_MISSING_SPANS=1 to train without it"
        )
    if missing:
        logger.warning("ALLOW_MISSING_SPANS=1: training on %s..%s without span(s) %s", first, last, missing)
    read = [(span, pattern.uri_of(span, existing[span])) for span in expected if span in existing]
    if not read:
        raise SpanError(f"DATA_URI {pattern_uri}: every span of the window {first}..{last} is missing")
    return read, missing


def window_end(as_of: str = "", scheduled_time: str = "") -> date:
    """The day a run's window ends: DATA_AS_OF when set, else a scheduled run's time, else today (UTC).

    `scheduled_time` is KFP's `{{$.pipeline_job_schedule_time_utc}}` (RFC 3339; a one-off run gets its
    creation time); a runner that leaves the placeholder unresolved (kfp.local) passes it through as is.
    """
    if as_of:
        try:
            return date.fromisoformat(as_of)
        except ValueError:
            raise SpanError(f"DATA_AS_OF {as_of!r}: expected a day written YYYY-MM-DD") from None
    if scheduled_time and not scheduled_time.startswith("{{"):
        try:
            return datetime.fromisoformat(scheduled_time.replace("Z", "+00:00")).astimezone(UTC).date()
        except ValueError:
            raise SpanError(f"scheduled time {scheduled_time!r}: expected an RFC 3339 time") from None
    return datetime.now(UTC).date()
