"""The one reader of raw data (components/data): values, files and layouts, on real files written here."""

from __future__ import annotations

import dataclasses
import gzip
import io
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from components.common.content import ContentChangedError
from components.common.specs.base import Binary, Column, DatasetSpec, Label, Numeric, SpecError
from components.data.reader import _Lines, read_batches, read_frame
from components.data.sources import check_unchanged, resolve_source
from components.data.values import DEFAULT_MISSING_VALUES, RawDataError

SPEC = DatasetSpec(
    name="reader",
    description="one column of each type, a label, a float that reads non-finite numbers as missing",
    columns=(
        Column("fare", "float", max_null_fraction=1.0),
        Column("hour", "int", max_null_fraction=1.0),
        Column("note", "string", max_null_fraction=1.0),
        Column("ratio", "float", max_null_fraction=1.0, non_finite="missing"),
        Column("paid", "int", allowed_values=("0", "1")),
    ),
    label=Label("paid", ("paid",), ("paid",), derive=lambda raw: raw["paid"], description="paid"),
    features=(Numeric("fare"),),
    min_rows=1,
    task=Binary(),
)
HEADER = "fare,hour,note,ratio,paid\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def frame_of(uri: Path | str, spec: DatasetSpec = SPEC) -> pd.DataFrame:
    return read_frame(resolve_source(str(uri)), spec)


@pytest.mark.parametrize("spelling", DEFAULT_MISSING_VALUES)
def test_every_missing_spelling_reads_as_missing_in_every_type(tmp_path: Path, spelling: str) -> None:
    padded = f" {spelling} " if spelling else ""  # numbers are stripped first; text is not
    data = write(tmp_path / "d.csv", HEADER + f"{padded},{padded},{spelling},{padded},1\n1.5,2,x,0.5,0\n")
    frame = frame_of(data)
    assert frame.iloc[0][["fare", "hour", "note", "ratio"]].isna().all(), frame.iloc[0]
    assert frame.iloc[1].tolist() == [1.5, 2, "x", 0.5, 0]
    assert frame["note"].tolist() == [None, "x"] and str(frame["hour"].dtype) == "Int64"


def test_a_spec_names_its_own_missing_spellings(tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, missing_values=("", "-999"))
    data = write(tmp_path / "d.csv", HEADER + "-999,-999,NA,,1\n")
    frame = frame_of(data, spec)
    assert frame.iloc[0][["fare", "hour", "ratio"]].isna().all() and frame["note"].tolist() == ["NA"]
    refused = write(tmp_path / "e.csv", HEADER + "NA,1,x,,1\n")
    with pytest.raises(RawDataError, match=r"line 2, column 'fare': expected a number \(float\), got 'NA'"):
        frame_of(refused, spec)


@pytest.mark.parametrize("number", ["inf", "-inf", "1e400", "-1e309", "1e300", "-3.5e38"])
def test_a_non_finite_number_is_refused_naming_column_and_line_or_missing_where_declared(
    tmp_path: Path, number: str
) -> None:
    refused = write(tmp_path / "a.csv", HEADER + "1,1,x,1,1\n" * 3 + f"{number},1,x,1,1\n")
    with pytest.raises(RawDataError, match=rf"a.csv: line 5, column 'fare': expected a finite number, got '{number}'"):
        frame_of(refused)
    declared = write(tmp_path / "b.csv", HEADER + f"1,1,x,{number},1\n2,1,x,0.5,0\n")
    assert frame_of(declared)["ratio"].isna().tolist() == [True, False]


def test_a_float_beyond_float32s_range_is_non_finite_as_the_model_reads_it(tmp_path: Path) -> None:
    refused = write(tmp_path / "a.csv", HEADER + "3.4e38,1,x,1,1\n-3.4e38,1,x,1,1\n1e300,1,x,1,1\n")
    with pytest.raises(RawDataError) as error:
        frame_of(refused)
    assert str(error.value).startswith(f"{refused}: line 4, column 'fare': expected a finite number, got '1e300'")
    assert "beyond float32's range, |x| <= 3.4028235e+38" in str(error.value)
    read = frame_of(write(tmp_path / "b.csv", HEADER + "3.4e38,1,x,1e300,1\n-3.4e38,1,x,-3.4e38,0\n"))
    assert read["fare"].tolist() == [3.4e38, -3.4e38] and read["ratio"].isna().tolist() == [True, False]
    pd.DataFrame({"fare": [1e300], "hour": [1], "note": ["x"], "ratio": [1.0], "paid": [1]}).to_parquet(
        tmp_path / "c.parquet"
    )
    with pytest.raises(RawDataError, match=r"c.parquet: row 1, column 'fare': .*got 1e\+300 \(beyond float32's range"):
        frame_of(tmp_path / "c.parquet")


def test_whole_numbers_in_an_int_column_and_fractions_refused(tmp_path: Path) -> None:
    assert frame_of(write(tmp_path / "a.csv", HEADER + "1,3.0,x,1,1\n"))["hour"].tolist() == [3]
    with pytest.raises(RawDataError, match=r"line 2, column 'hour': expected a whole number \(int\), got '3.5'"):
        frame_of(write(tmp_path / "b.csv", HEADER + "1,3.5,x,1,1\n"))


@pytest.mark.parametrize("spelling", ["", "NA", "nan", "null"])
def test_a_null_binary_label_is_refused_naming_the_line(tmp_path: Path, spelling: str) -> None:
    data = write(tmp_path / "d.csv", HEADER + "1,1,x,1,1\n" + f"1,1,x,1,{spelling}\n")
    with pytest.raises(RawDataError, match=r"d.csv: line 3, column 'paid': expected a value \(a binary task's label\)"):
        frame_of(data)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\r"])
def test_a_line_separator_inside_a_quoted_field_stays_in_its_row(tmp_path: Path, separator: str) -> None:
    data = write(tmp_path / "d.csv", HEADER + f'1,1,"before{separator}after",1,1\r\n2,2,y,2,0\n')
    frame = frame_of(data)
    assert frame["note"].tolist() == [f"before{separator}after", "y"]
    assert frame["fare"].tolist() == [1.0, 2.0]


def test_a_quoted_line_break_is_refused_naming_the_line(tmp_path: Path) -> None:
    data = write(tmp_path / "d.csv", HEADER + "1,1,x,1,1\n" + '1,1,"two\nlines",1,1\n')
    with pytest.raises(RawDataError, match=r"line 3: a quoted field holds a line break"):
        frame_of(data)


class CountingStream(io.RawIOBase):
    """An endless line of `x`: counts the bytes anyone reads from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = b"x" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def test_a_line_over_the_limit_is_refused_after_reading_about_the_limit() -> None:
    stream = CountingStream()
    lines = _Lines(io.BufferedReader(stream), "endless.csv", 4096)
    with pytest.raises(RawDataError, match=r"endless.csv: line 1: longer than 4096 bytes"):
        next(lines)
    assert 4096 < stream.read_bytes <= 4096 + io.DEFAULT_BUFFER_SIZE


@pytest.mark.parametrize("gzipped", [False, True], ids=["csv", "csv.gz"])
def test_a_line_far_over_the_limit_is_refused_in_little_memory(tmp_path: Path, gzipped: bool) -> None:
    line = b"1,1," + b"x" * (48 << 20) + b",1,1\n"
    path = tmp_path / ("big.csv.gz" if gzipped else "big.csv")
    path.write_bytes(gzip.compress(HEADER.encode() + line, 1) if gzipped else HEADER.encode() + line)
    del line
    spec = dataclasses.replace(SPEC, max_line_bytes=1 << 20)
    source = resolve_source(str(path))
    tracemalloc.start()
    try:
        with pytest.raises(RawDataError, match=r"big.csv(.gz)?: line 2: longer than 1048576 bytes"):
            list(read_batches(source, spec))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes while refusing a 48 MiB line"


def test_gzip_csv_and_parquet_read_as_the_csv_does(tmp_path: Path) -> None:
    text = HEADER + "1.5,3,a b,0.25,1\n,,,,0\n2,4.0,NA,inf,1\n"
    plain = frame_of(write(tmp_path / "csv" / "d.csv", text))
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "d.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "pq").mkdir()
    written = pd.DataFrame(
        {
            "fare": [1.5, None, 2.0],
            "hour": pd.array([3, None, 4], dtype="Int64"),
            "note": ["a b", None, "NA"],
            "ratio": [0.25, float("nan"), float("inf")],
            "paid": [1, 0, 1],
        }
    )
    written.to_parquet(tmp_path / "pq" / "d.parquet")
    assert plain["note"].tolist() == ["a b", None, None] and plain["ratio"].isna().tolist() == [False, True, True]
    pd.testing.assert_frame_equal(frame_of(tmp_path / "gz"), plain)
    pd.testing.assert_frame_equal(frame_of(tmp_path / "pq"), plain)


def test_a_folder_and_a_glob_of_several_files(tmp_path: Path) -> None:
    for day in (1, 2, 3):
        write(tmp_path / "trips" / f"day={day}" / "part-0.csv", HEADER + f"{day},{day},d{day},1,1\n")
        write(tmp_path / "trips" / f"day={day}" / "part-1.csv", HEADER + f"{day}.5,{day},e{day},1,0\n")
    write(tmp_path / "trips" / "_SUCCESS", "")
    write(tmp_path / "trips" / "README.txt", "not data")
    folder = frame_of(tmp_path / "trips")
    assert folder["note"].tolist() == ["d1", "e1", "d2", "e2", "d3", "e3"]
    globbed = frame_of(f"{tmp_path}/trips/day=[23]/part-1.csv")
    assert globbed["note"].tolist() == ["e2", "e3"]
    batches = list(read_batches(resolve_source(str(tmp_path / "trips")), SPEC))
    assert [(Path(b.file.uri).parent.name, b.first_line, b.table.num_rows) for b in batches][:2] == [
        ("day=1", 2, 1),
        ("day=1", 2, 1),
    ]


def test_a_parquet_column_of_the_wrong_type_is_refused_naming_it(tmp_path: Path) -> None:
    pd.DataFrame({"fare": ["1.5"], "hour": [1], "note": ["x"], "ratio": [1.0], "paid": [1]}).to_parquet(
        tmp_path / "d.parquet"
    )
    with pytest.raises(RawDataError, match=r"d.parquet: column 'fare' is (large_)?string in the file; .* as float"):
        frame_of(tmp_path / "d.parquet")
    pd.DataFrame({"fare": [1.5], "hour": [1.5], "note": ["x"], "ratio": [1.0], "paid": [1]}).to_parquet(
        tmp_path / "e.parquet"
    )
    with pytest.raises(RawDataError, match=r"e.parquet: row 1, column 'hour': expected a whole number"):
        frame_of(tmp_path / "e.parquet")


def test_mixed_formats_and_an_empty_folder_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "mixed" / "a.csv", HEADER + "1,1,x,1,1\n")
    pd.DataFrame({"fare": [1.0]}).to_parquet(tmp_path / "mixed" / "b.parquet")
    with pytest.raises(RawDataError, match=r"mixed: mixes formats \(csv: .*a.csv, parquet: .*b.parquet\)"):
        resolve_source(str(tmp_path / "mixed"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RawDataError, match=r"empty: no data files"):
        resolve_source(str(tmp_path / "empty"))


def test_the_manifest_digest_changes_when_any_file_changes(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write(tmp_path / "d" / f"{name}.csv", HEADER + "1,1,x,1,1\n")
    before = resolve_source(str(tmp_path / "d"))
    assert resolve_source(str(tmp_path / "d")).digest() == before.digest()
    check_unchanged(before, "unchanged")
    seen = {before.digest().sha256}
    for name in ("a", "b", "c"):
        write(tmp_path / "d" / f"{name}.csv", HEADER + "1,1,y,1,1\n")  # same size, other bytes
        after = resolve_source(str(tmp_path / "d"))
        assert after.digest().sha256 not in seen
        seen.add(after.digest().sha256)
    with pytest.raises(ContentChangedError, match=r"a.csv changed since its manifest was taken \(transform\)"):
        check_unchanged(before, "transform")
    write(tmp_path / "d" / "z.csv", HEADER + "1,1,x,1,1\n")
    with pytest.raises(ContentChangedError, match=r"z.csv appeared since its manifest was taken \(evaluate\)"):
        check_unchanged(after, "evaluate")


@pytest.mark.parametrize(
    "change, field, expected",
    [
        ({"missing_values": "NA"}, "missing_values", "expected a tuple of (a string)"),
        ({"missing_values": ("NA", "NA")}, "missing_values", "expected distinct spellings"),
        ({"max_line_bytes": 10}, "max_line_bytes", "expected at least 1024 bytes, got 10"),
        ({"max_line_bytes": 1.5}, "max_line_bytes", "expected an integer, got 1.5"),
        ({"missing_values": ("", "0")}, "Column('paid').allowed_values", "['0'] would be read as missing"),
    ],
)
def test_reading_fields_set_wrong_are_refused_in_one_line(change: dict, field: str, expected: str) -> None:
    with pytest.raises(SpecError) as refused:
        dataclasses.replace(SPEC, **change)
    assert refused.value.field == field and expected in str(refused.value), str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("dtype", ["int", "string"])
def test_non_finite_is_a_float_columns_choice_only(dtype: str) -> None:
    with pytest.raises(SpecError, match=rf"Column\('x'\).non_finite: applies to float columns only, not {dtype}"):
        Column("x", dtype, non_finite="missing")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"Column\('x'\).non_finite: expected one of 'refuse', 'missing'"):
        Column("x", "float", non_finite="skip")  # type: ignore[arg-type]
