"""Span patterns over real folders: the newest n, a scheduled time, a gap refused naming the span, allowed gaps."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from components.data.spans import SpanError, SpanPattern, is_span_pattern, resolve_spans, window_end

DAYS = [f"2026-12-0{n}" for n in range(1, 8)]


def _partitions(root: Path, days: list[str], layout: str = "date={day}/part-0.parquet") -> Path:
    for day in days:
        path = root / layout.format(day=day, compact=day.replace("-", ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1")
    return root


def _spans(read: list[tuple[str, str]]) -> list[str]:
    return [span for span, _ in read]


def test_the_newest_n_spans_are_read_oldest_first_each_with_its_own_uri(tmp_path):
    root = _partitions(tmp_path, DAYS)
    read, missing = resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 3, None, False)
    assert read == [(day, f"{root}/date={day}/") for day in DAYS[-3:]] and missing == []
    everything, _ = resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 0, None, False)
    assert _spans(everything) == DAYS


def test_a_scheduled_time_ends_the_window_there_and_later_spans_are_not_seen(tmp_path):
    root = _partitions(tmp_path, DAYS)
    at = window_end(scheduled_time="2026-12-05T03:00:00Z")
    assert at == date(2026, 12, 5)
    read, _ = resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 3, at, False)
    assert _spans(read) == ["2026-12-03", "2026-12-04", "2026-12-05"]
    with pytest.raises(SpanError, match=r"no span on or before 2026-11-30 \(the oldest is 2026-12-01\)"):
        resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 3, date(2026, 11, 30), False)


def test_the_window_end_is_data_as_of_else_the_schedule_else_today():
    assert window_end("2026-12-02", "2026-12-05T03:00:00Z") == date(2026, 12, 2)
    # kfp.local leaves the placeholder as it is: the run's own day.
    assert window_end("", "{{$.pipeline_job_schedule_time_utc}}") == window_end()
    with pytest.raises(SpanError, match="DATA_AS_OF '12/05/2026': expected a day written YYYY-MM-DD"):
        window_end("12/05/2026")
    with pytest.raises(SpanError, match="scheduled time 'yesterday'"):
        window_end("", "yesterday")


def test_a_gap_in_the_window_is_refused_naming_the_missing_span(tmp_path):
    root = _partitions(tmp_path, [day for day in DAYS if day != "2026-12-06"])
    with pytest.raises(SpanError) as refused:
        resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 3, None, False)
    message = str(refused.value)
    assert message.startswith("span 2026-12-06 is missing") and f"{root}/date=2026-12-06/" in message
    assert "window 2026-12-05..2026-12-07" in message and "ALLOW_MISSING_SPANS=1" in message
    # A window that does not reach the gap is whole.
    assert _spans(resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 1, None, False)[0]) == ["2026-12-07"]


def test_allow_missing_spans_reads_the_rest_and_logs_what_is_missing(tmp_path, caplog):
    root = _partitions(tmp_path, [day for day in DAYS if day not in ("2026-12-04", "2026-12-06")])
    with caplog.at_level(logging.WARNING, logger="components.data.spans"):
        read, missing = resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 4, None, True)
    assert _spans(read) == ["2026-12-05", "2026-12-07"] and missing == ["2026-12-04", "2026-12-06"]
    assert "without span(s) ['2026-12-04', '2026-12-06']" in caplog.text
    with pytest.raises(SpanError, match=r"span 2026-12-04 is missing .* and 1 more: \['2026-12-06'\]"):
        resolve_spans(f"{root}/date={{YYYY-MM-DD}}/", 4, None, False)


def test_compact_days_in_file_names_and_numbered_spans(tmp_path):
    root = _partitions(tmp_path / "days", DAYS[:3], "trips-{compact}.csv")
    read, _ = resolve_spans(f"{root}/trips-{{YYYYMMDD}}.csv", 2, None, False)
    assert read == [("2026-12-02", f"{root}/trips-20261202.csv"), ("2026-12-03", f"{root}/trips-20261203.csv")]
    numbered = tmp_path / "numbered"
    for text in ("008", "009", "010", "011"):
        (numbered / text).mkdir(parents=True)
        (numbered / text / "part-0.csv").write_text("a\n1\n")
    read, _ = resolve_spans(f"{numbered}/{{SPAN}}/*.csv", 3, date(2000, 1, 1), False)  # `at` is for days only
    assert read == [(span, f"{numbered}/{text}/*.csv") for span, text in (("9", "009"), ("10", "010"), ("11", "011"))]


def test_a_pattern_that_cannot_be_read_is_refused_in_one_line(tmp_path):
    assert is_span_pattern("s3://b/t/date={YYYY-MM-DD}/") and not is_span_pattern("s3://b/t/date=2026-12-01/")
    for bad, why in (
        ("d/{SPAN}/{YYYYMMDD}.csv", "expected exactly one of"),
        ("d/{SPAN}/{SPAN}.csv", "expected exactly one of"),
        ("d/*/date={YYYY-MM-DD}/", "a wildcard before {YYYY-MM-DD}"),
    ):
        with pytest.raises(SpanError, match=why):
            SpanPattern.parse(bad)
    with pytest.raises(SpanError, match=f"no span under {tmp_path}/empty/"):
        resolve_spans(f"{tmp_path}/empty/date={{YYYY-MM-DD}}/", 3, None, False)
    (tmp_path / "odd" / "date=2026-13-01").mkdir(parents=True)
    (tmp_path / "odd" / "date=2026-13-01" / "part-0.csv").write_text("a\n")
    with pytest.raises(SpanError, match="'2026-13-01' is not a day written {YYYY-MM-DD}"):
        resolve_spans(f"{tmp_path}/odd/date={{YYYY-MM-DD}}/", 3, None, False)
