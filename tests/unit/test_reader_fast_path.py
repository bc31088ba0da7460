"""The reader's pyarrow path reads every CSV as its csv module path does: the same batches, or the same error."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_reader import SPEC as READER_SPEC

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.data import reader
from components.data.reader import RawBatch, read_batches
from components.data.sources import resolve_source
from components.data.values import RawDataError
from pipelines.datasets import bundled_datasets, bundled_frame

# test_reader's spec with 1 KiB lines: pyarrow's blocks are then 1 KiB, so a small file spans many.
SPEC = dataclasses.replace(READER_SPEC, name="fast_path", max_line_bytes=1024)
NAMES = SPEC.column_names
TAXI_CSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chicago_taxi" / "data.csv"

MISSING = ["", "NA", "null", " NA ", "None", "nan"]
GOOD = {  # values every column reads (the note's: TEXT)
    "fare": ["1.5", "3", "-0", " 2 ", "0.25", "3.4e38", *MISSING],
    "hour": ["3", "3.0", "-0", " 2 ", *MISSING],
    "ratio": ["1.5", "inf", "-inf", "1e400", "1e300", "-0", *MISSING],
    "paid": ["0", "1"],
}
BAD = {"fare": ["inf", "1e300", "-1e309", "x"], "hour": ["3.5", "inf", "1e30", "x"], "ratio": ["x"], "paid": ["", "2"]}
TEXT = st.text(st.sampled_from('ab é,"\u2028\u2029\x85\x0c\x0b\t\x00'), max_size=5)
TROUBLE = [
    "blank", "cr line", "short", "long", "bytes", "lone cr", "over", "near", '"a"b', '"a" ', ' "a"', "quoted lf",
    "quoted cr", "open quote",
]  # fmt: skip
BAD_BYTES = [b"\xff", b"\xed\xa0\x80", b"\xc3", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x00"]


def quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@st.composite
def rows(draw: st.DrawFn) -> str:
    """A row every column reads: numbers as found in files, quoted or not; notes quoted where they must be."""
    fields = []
    for name in NAMES:
        value = draw(TEXT if name == "note" else st.sampled_from(GOOD[name]))
        must = "," in value or value.startswith('"')
        fields.append(quoted(value) if must or draw(st.booleans()) else value)
    return ",".join(fields)


@st.composite
def troubled(draw: st.DrawFn, row: str, kind: str) -> bytes:
    """The row with one trouble: a value a column refuses, or a line the csv module splits its own way."""
    fields = row.split(",") if kind == "value" else ["1.5", "3", "note", "0.5", "1"]
    if kind == "value":
        fields = ["1.5", "3", "note", "0.5", "1"]
        name = draw(st.sampled_from(sorted(BAD)))
        fields[NAMES.index(name)] = draw(st.sampled_from(BAD[name]))
        return ",".join(fields).encode()
    line = ",".join(fields).encode()
    trouble = {
        "blank": b"",
        "cr line": b"\r",
        "short": b"1.5,3,note,0.5",
        "long": line + b",",
        "lone cr": b"1.5,3\r,note,0.5,1",
        "over": b"1,1," + b"x" * draw(st.sampled_from([1017, 1018, 1019, 1020, 1100, 2100])) + b",1,1",
        "near": b"1,1," + b"x" * 1016 + b",1,1",
        '"a"b': b'1.5,3,"no"te,0.5,1',
        '"a" ': b'1.5,3,"note" ,0.5,1',
        ' "a"': b'1.5,3, "note",0.5,1',
        "quoted lf": b'1.5,3,"no\nte",0.5,1',
        "quoted cr": b'1.5,3,"no\rte",0.5,1',
        "open quote": b'1.5,3,"note,0.5,1',
    }
    if kind == "bytes":
        at = draw(st.integers(0, len(line)))
        return line[:at] + draw(st.sampled_from(BAD_BYTES)) + line[at:]
    return trouble[kind]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A header and up to 40 rows, every one read, or with a few troubled rows anywhere among them."""
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines = [",".join(NAMES).encode() + ending]
    kinds = draw(st.lists(st.sampled_from(["value", "bytes", *TROUBLE]), max_size=2))
    count = draw(st.integers(0, 40))
    at = {draw(st.integers(0, count)): kind for kind in kinds}
    for index in range(count + 1):
        if index in at:
            lines.append(draw(troubled(draw(rows()), at[index])) + ending)
        if index < count:
            lines.append(draw(rows()).encode() + draw(st.sampled_from([ending] * 4 + [b"\r\n", b"\n"])))
    text = b"".join(lines)
    return text[:-1] if draw(st.booleans()) and text.endswith(b"\n") else text


def outcome(batches: Iterator[RawBatch]) -> list[tuple[int, object]] | str:
    """The batches (first line, table), or the error's message."""
    try:
        return [(batch.first_line, batch.table) for batch in batches]
    except RawDataError as error:
        return str(error)


def both_ways(path: Path, spec: DatasetSpec, names: list[str], batch_rows: int) -> tuple[object, object]:
    source = resolve_source(str(path))
    (file,) = source.files
    fast = outcome(read_batches(source, spec, names, batch_rows))
    slow = outcome(reader._module_batches(file, spec, names, batch_rows, ""))
    return fast, slow


def arrow_whole(path: Path, spec: DatasetSpec, batch_rows: int = 4096, names: list[str] | None = None) -> bool:
    """Whether pyarrow read the whole file (the csv module path was never needed); False if a value was refused."""
    (file,) = resolve_source(str(path)).files
    batches = reader._arrow_batches(file, spec, names or spec.column_names, batch_rows, "")
    while True:
        try:
            next(batches)
        except StopIteration as end:
            return end.value is None
        except RawDataError:
            return False


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=csv_files(),
    batch_rows=st.sampled_from([1, 3, 8, 64]),
    gzipped=st.booleans(),
    names=st.sampled_from([NAMES, ["note", "fare"]]),
)
def test_any_csv_reads_the_same_both_ways(
    tmp_path: Path, data: bytes, batch_rows: int, gzipped: bool, names: list[str]
) -> None:
    path = tmp_path / ("d.csv.gz" if gzipped else "d.csv")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    fast, slow = both_ways(path, SPEC, names, batch_rows)
    event("pyarrow read it whole" if arrow_whole(path, SPEC, batch_rows) else "the csv module read on")
    event("read" if isinstance(fast, list) else "refused")
    assert fast == slow


@pytest.mark.parametrize(
    "rows",
    [
        ['1.5,3,"a, ""quoted"" note",0.25,1', '2,4,"x\u2028y\x85z\x0c",inf,0'],
        ["-0,3.0,plain,1e400,1", ",,,,0", 'NA,null,"",nan,1', ' 2 ,"5", a"b ,,0'],
    ],
)
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_well_formed_files_are_read_by_pyarrow_whole(tmp_path: Path, rows: list[str], ending: str) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(ending.join([",".join(NAMES), *rows * 40]).encode())
    assert arrow_whole(path, SPEC, batch_rows=7)
    fast, slow = both_ways(path, SPEC, NAMES, 7)
    assert fast == slow and isinstance(fast, list) and sum(table.num_rows for _, table in fast) == 40 * len(rows)


def test_a_bad_value_is_refused_by_the_pyarrow_path_itself_naming_its_line(tmp_path: Path) -> None:
    rows = ["1.5,3,note,0.25,1"] * 500 + ["1.5,3.5,note,0.25,1"]
    path = tmp_path / "d.csv"
    path.write_text("\n".join([",".join(NAMES), *rows]) + "\n")
    (file,) = resolve_source(str(path)).files
    expected = f"{path}: line 502, column 'hour': expected a whole number (int), got '3.5'"
    with pytest.raises(RawDataError) as fast:
        list(reader._arrow_batches(file, SPEC, NAMES, 64, ""))  # no csv module fallback in here
    assert str(fast.value) == expected
    with pytest.raises(RawDataError) as slow:
        list(reader._module_batches(file, SPEC, NAMES, 64, ""))
    assert str(slow.value) == expected


def test_after_a_line_pyarrow_cannot_vouch_for_the_csv_module_reads_on(tmp_path: Path) -> None:
    rows = ["1.5,3,note,0.25,1"] * 300 + ['1.5,3,"a"b,0.25,1'] + ["2,4,x,1,0"] * 10
    path = tmp_path / "d.csv"
    path.write_text("\n".join([",".join(NAMES), *rows]) + "\n")
    assert not arrow_whole(path, SPEC)
    fast, slow = both_ways(path, SPEC, NAMES, 16)
    assert fast == slow == f"{path}: line 302: ',' expected after '\"'"


def bundled_csvs(tmp_path: Path) -> Iterator[tuple[Path, DatasetSpec]]:
    for name in bundled_datasets():
        path = tmp_path / f"{name}.csv"
        bundled_frame(name).head(10_000).to_csv(path, index=False)  # as materialize_dataset writes it
        yield path, get_spec(name)
    if TAXI_CSV.is_file():
        yield TAXI_CSV, get_spec("chicago_taxi")


def test_every_bundled_dataset_reads_the_same_both_ways(tmp_path: Path) -> None:
    seen = []
    for path, spec in bundled_csvs(tmp_path):
        assert arrow_whole(path, spec), path
        fast, slow = both_ways(path, spec, spec.column_names, 4096)
        assert isinstance(fast, list) and fast == slow, path
        seen.append(spec.name)
    assert {"penguins", "ames", "mlc_churn"} <= set(seen)


def test_read_frame_is_unchanged_by_the_pyarrow_path(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(",".join(NAMES) + "\n" + '1.5,3,"a, b",inf,1\n,,NA,2,0\n')
    frame = reader.read_frame(resolve_source(str(path)), SPEC)
    expected = pd.DataFrame(
        {
            "fare": [1.5, None],
            "hour": pd.array([3, None], dtype="Int64"),
            "note": pd.Series(["a, b", None], dtype=object),
            "ratio": [None, 2.0],
            "paid": pd.array([1, 0], dtype="Int64"),
        }
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_a_blank_line_is_left_to_the_csv_module(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("paid\n1\n\n0\n")  # the blank line is no row for the csv module, for pyarrow empty values
    assert not arrow_whole(path, SPEC, names=["paid"])
    assert reader.read_frame(resolve_source(str(path)), SPEC, ["paid"])["paid"].tolist() == [1, 0]


@pytest.mark.parametrize(
    "line, whole",
    [
        (b"1,1," + b"x" * 1016 + b",1,1\n", True),  # exactly max_line_bytes
        (b"1,1," + b"x" * 1015 + b",1,1\r\n", True),  # the \r counts
        (b"1,1," + b"x" * 1016 + b",1,1", True),  # the last line, without its \n
        (b"1,1," + b"x" * 1017 + b",1,1\n", False),  # one byte over: the csv module's path refuses it
    ],
)
def test_a_line_up_to_max_line_bytes_is_read_by_pyarrow_and_one_over_is_not(
    tmp_path: Path, line: bytes, whole: bool
) -> None:
    path = tmp_path / "d.csv"
    rest = b"2,2,y,2,0\n" * 50 if line.endswith(b"\n") else b""
    path.write_bytes(",".join(NAMES).encode() + b"\n" + b"2,2,y,2,0\n" * 50 + line + rest)
    assert arrow_whole(path, SPEC, 8) is whole
    fast, slow = both_ways(path, SPEC, NAMES, 8)
    assert fast == slow
    if not whole:
        assert isinstance(fast, str) and fast.startswith(f"{path}: line 52: longer than 1024 bytes")
