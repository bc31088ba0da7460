"""Every step reads the same values from the same text (issue 22), checked on generated files.

Hypothesis writes CSV rows whose fields use every missing spelling, non-finite numbers, numbers in many
spellings and strings with commas, quotes and line-separator characters; a tiny oracle here says what
each text means by the spec's rules. Validate's read, the drift check's read, the transform's CSV
parsing, evaluate's eval-row read and serving's TensorFlow parsing must all read exactly that, and a
file with a value the rules refuse must be refused by every step that reads the column.
"""

from __future__ import annotations

import functools
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from one_reader_spec import SPEC

from components.data.baseline import Baseline, baseline_from_csv
from components.data.raw_tensors import dense_to_sparse, parse_csv_rows
from components.data.reader import read_frame
from components.data.sources import resolve_source
from components.data.values import RawDataError
from components.evaluate.eval_rows import read_eval_columns
from components.monitor.task import read_new_data
from components.transform.batches import EVAL_RAW, SplitLines, ToRecordBatch
from components.transform.layout import EVAL
from components.validate.task import read_raw_chunks

NAMES = SPEC.column_names
FLOATS = {"fare", "ratio"}
HEADER = ",".join(NAMES)

# --- the oracle: what each text means, written from the spec's rules, not from the code -------------
SPELLINGS = ("", "NA", "N/A", "null", "None", "nan", "NaN")
FLOAT32_MAX = float(np.finfo(np.float32).max)
MISSING = None  # an expected cell that is missing


def number_meaning(text: str, column: str) -> float | int | None:
    """A number column's value, None when missing; ValueError when the spec's rules refuse the text."""
    stripped = text.strip(" ")
    if stripped in SPELLINGS:
        return MISSING
    value = float(stripped)  # ValueError: not a number
    if column in FLOATS:
        if math.isfinite(value) and abs(value) <= FLOAT32_MAX:
            return value
        if column == "ratio":
            return MISSING
        raise ValueError(f"non-finite {text!r}")
    if not math.isfinite(value) or value != math.floor(value) or abs(value) >= 2.0**63:
        raise ValueError(f"not whole {text!r}")
    return int(value)


def meaning(column: str, text: str) -> Any:
    if column == "note":
        return MISSING if text in SPELLINGS else text
    value = number_meaning(text, column)
    if value is MISSING and column == "paid":
        raise ValueError("a binary label is never missing")
    return value


# --- the texts ---------------------------------------------------------------------------------------
SPACES = st.sampled_from(["", " ", "  "])


def padded(texts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(SPACES, texts, SPACES).map("".join)


MISSING_TEXT = st.sampled_from(SPELLINGS)
FLOAT_TEXT = st.one_of(
    st.sampled_from(["3.0", "-0", "1e-3", "0.5", "-12.25", "1E5", "100", "-0.0", "2.5e-7", "3.4e38"]),
    st.floats(min_value=-3e38, max_value=3e38, allow_nan=False).map(repr),
)
NON_FINITE_TEXT = st.sampled_from(["inf", "-inf", "Infinity", "-INF", "1e400", "-1e309", "1e300", "-3.5e38"])
INT_TEXT = st.one_of(
    st.sampled_from(["3.0", "-0", "1e3", "0", "-7", "12.0"]),
    st.integers(-(2**53), 2**53).map(str),
)
NOTE_TEXT = st.text(st.sampled_from(list("ab é,\"'\t\u2028\x85\x0c;")), max_size=8)
VALID = {
    "fare": st.one_of(padded(MISSING_TEXT), padded(FLOAT_TEXT)),
    "ratio": st.one_of(padded(MISSING_TEXT), padded(FLOAT_TEXT), padded(NON_FINITE_TEXT)),
    "hour": st.one_of(padded(MISSING_TEXT), padded(INT_TEXT)),
    "note": st.one_of(MISSING_TEXT, padded(st.sampled_from(SPELLINGS[1:])), NOTE_TEXT),
    "paid": padded(st.sampled_from(["0", "1", "0.0", "1.0"])),
}
REFUSED = {
    "fare": padded(st.one_of(NON_FINITE_TEXT, st.sampled_from(["NAN", "-nan", "abc", "1.2.3"]))),
    "ratio": padded(st.sampled_from(["abc", "1.2.3", "--1"])),
    "hour": padded(st.sampled_from(["3.5", "inf", "1e300", "1e400", "x", "0.1"])),
    "paid": padded(MISSING_TEXT),
}


def field(text: str, quoted: bool) -> str:
    if quoted or any(char in text for char in ',"'):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass
class Case:
    rows: list[list[str]]  # the texts, spec order
    lines: list[str]  # the CSV lines, no header
    refused: str | None  # the column a refused text is in


@st.composite
def cases(draw: st.DrawFn) -> Case:
    rows = [[draw(VALID[name]) for name in NAMES] for _ in range(draw(st.integers(1, 6)))]
    refused = draw(st.one_of(st.none(), st.sampled_from(sorted(REFUSED))))
    if refused is not None:
        rows[draw(st.integers(0, len(rows) - 1))][NAMES.index(refused)] = draw(REFUSED[refused])
    lines = [",".join(field(text, draw(st.booleans())) for text in row) for row in rows]
    return Case(rows, lines, refused)


def expected_rows(case: Case) -> list[list[Any]]:
    return [[meaning(name, text) for name, text in zip(NAMES, row)] for row in case.rows]


# --- what each step reads, as rows of Python values (None where missing) -----------------------------
def plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return MISSING if value == "" else value


def frame_rows(frame: pd.DataFrame) -> list[list[Any]]:
    return [[plain(value) for value in row] for row in frame[NAMES].astype(object).itertuples(index=False)]


def transform_reads(path: Path, lines: list[str]) -> tuple[list[list[Any]], list[str]]:
    """The transform's CSV parsing: each line split (every row eval, so each is also written as the eval
    copy) and the parsed rows made one record batch of tf.Transform's input (a list per row, empty if missing)."""
    split = SplitLines(SPEC, NAMES, str(path), (0.2, 0.1), for_analysis=False, all_eval=True)
    split.setup()
    rows, eval_copy = [], []
    for line in lines:
        for output in split.process(line):
            (rows if output.tag == EVAL else eval_copy).append(output.value)
            assert output.tag in (EVAL, EVAL_RAW)
    batch = next(iter(ToRecordBatch(SPEC, NAMES, str(path)).process(rows)))
    columns = {name: batch.column(name).to_pylist() for name in NAMES}
    read = [[plain(columns[name][i][0]) if columns[name][i] else MISSING for name in NAMES] for i in range(len(rows))]
    return read, eval_copy


def tensor_rows(columns: dict[str, Any]) -> list[list[Any]]:
    values = {name: np.asarray(columns[name]).tolist() for name in NAMES}
    return [[plain(values[name][i]) for name in NAMES] for i in range(len(values[NAMES[0]]))]


@functools.cache
def serving() -> Any:
    """Serving's CSV signature's parsing, built once: the dense tensors and tf.Transform's sparse input."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def parse(lines: tf.Tensor) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        dense = parse_csv_rows(lines, SPEC)
        sparse = dense_to_sparse(dense, SPEC)
        rows = {name: tensor.indices[:, 0] for name, tensor in sparse.items()}
        return dense, rows

    return parse


@functools.cache
def baseline() -> Baseline:
    """The drift check's baseline of this spec, from a small clean file."""
    # Named by the spec's file, so that the drift check reads new data by this spec's rules.
    spec_file = Path(__file__).with_name("one_reader_spec.py")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.csv"
        path.write_text(f"{HEADER}\n1.5,0.5,3,a,1\n2.5,0.25,4,b,0\n", encoding="utf-8")
        return baseline_from_csv(path, dataset=str(spec_file), source=str(path), spec=SPEC)


def same(got: list[list[Any]], expected: list[list[Any]], step: str, float32: bool = False) -> None:
    assert len(got) == len(expected), f"{step}: {len(got)} rows, expected {len(expected)}"
    for number, (row, wanted) in enumerate(zip(got, expected), start=1):
        for name, value, want in zip(NAMES, row, wanted):
            if want is not MISSING and name in FLOATS and float32:
                want = float(np.float32(want))
            if want is MISSING or isinstance(want, str):
                ok = value is want or value == want
            else:
                ok = value is not MISSING and not isinstance(value, str) and float(value) == float(want)
            assert ok, f"{step}: row {number}, column {name!r}: read {value!r}, expected {want!r}"


# --- the property ------------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
# Always, whatever hypothesis draws: the texts on which steps once disagreed.
@example(case=Case([[" 1e300 ", "1e300", " NA ", "null", "1"]], [" 1e300 ,1e300, NA ,null,1"], "fare"))
@example(case=Case([["2", "-1e309", " None ", '"a,\u2028b"', " 0 "]], ['2,-1e309, None ,"""a,\u2028b""", 0 '], None))
@example(case=Case([["3.0", "3.5e38", "1e3", "NA", "1"]], ["3.0,3.5e38,1e3,NA,1"], None))
def test_every_step_reads_the_same_values(case: Case) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        path.write_text(HEADER + "\n" + "\n".join(case.lines) + "\n", encoding="utf-8")
        source = resolve_source(str(path))
        if case.refused is not None:
            check_refused(case, path, source)
            return
        expected = expected_rows(case)
        same(frame_rows(read_frame(source, SPEC)), expected, "reader")
        _, frames = read_raw_chunks(source, SPEC, chunk_rows=2)
        same(frame_rows(pd.concat(list(frames), ignore_index=True)), expected, "validate")
        same(frame_rows(read_new_data(path, baseline(), "new data")), expected, "drift check")
        transformed, eval_copy = transform_reads(path, case.lines)
        same(transformed, expected, "transform", float32=True)
        eval_path = Path(folder) / "eval.csv"
        eval_path.write_text(HEADER + "\n" + "\n".join(eval_copy) + "\n", encoding="utf-8")
        same(tensor_rows(read_eval_columns(eval_path, SPEC)), expected, "evaluate")
        dense, present = serving()(tf.constant(case.lines))
        same(tensor_rows({name: dense[name].numpy() for name in NAMES}), expected, "serving")
        for name in NAMES:  # tf.Transform's input at serving holds a value exactly where training's does
            rows = [i for i, row in enumerate(expected) if row[NAMES.index(name)] is not MISSING]
            assert present[name].numpy().tolist() == rows, f"serving's sparse {name!r}"


def check_refused(case: Case, path: Path, source: Any) -> None:
    """A refused text stops every step that reads its column, naming the column."""
    named = rf"column '{case.refused}'"
    with pytest.raises(ValueError):
        expected_rows(case)  # the oracle agrees the file holds a refused text
    with pytest.raises(RawDataError, match=named):
        read_frame(source, SPEC)
    with pytest.raises(RawDataError, match=named):
        _, frames = read_raw_chunks(source, SPEC, chunk_rows=2)
        list(frames)
    split = SplitLines(SPEC, NAMES, str(path), (0.2, 0.1), for_analysis=False, all_eval=True)
    split.setup()
    rows = [output.value for line in case.lines for output in split.process(line) if output.tag == EVAL]
    with pytest.raises(RawDataError, match=named):
        list(ToRecordBatch(SPEC, NAMES, str(path)).process(rows))
    eval_copy = [output.value for line in case.lines for output in split.process(line) if output.tag == EVAL_RAW]
    eval_path = path.with_name("eval.csv")
    eval_path.write_text(HEADER + "\n" + "\n".join(eval_copy) + "\n", encoding="utf-8")
    with pytest.raises(RawDataError, match=named):
        read_eval_columns(eval_path, SPEC)
    check_drift_refused(case, path)
    if case.refused != "paid":  # serving takes no label: its CSV signature feeds the label as missing
        # TensorFlow shows the assertion's text with its quotes escaped.
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"column \\?'{case.refused}\\?'"):
            serving()(tf.constant(case.lines))


def check_drift_refused(case: Case, path: Path) -> None:
    """The drift check refuses a number the spec refuses; text in a number column, or a missing label,
    it reads as found (text, or a null), which its report names as drift (a type change, a null rise)."""
    at = next(index for index, row in enumerate(case.rows) if not ok(case.refused, row[NAMES.index(case.refused)]))
    text = case.rows[at][NAMES.index(case.refused)]
    if text.strip(" ") in SPELLINGS or not is_number(text) or math.isnan(float(text)):  # "NAN": text to pandas
        read = plain(read_new_data(path, baseline(), "new data")[case.refused].tolist()[at])
        assert read == (MISSING if text.strip(" ") in SPELLINGS else text), (read, text)
        return
    with pytest.raises(ValueError, match=rf"new data: not readable as CSV: .*column '{case.refused}'"):
        read_new_data(path, baseline(), "new data")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def ok(name: str, text: str) -> bool:
    try:
        meaning(name, text)
    except ValueError:
        return False
    return True
