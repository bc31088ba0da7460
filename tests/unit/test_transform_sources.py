"""The transform reads any layout and format of the same rows alike: one CSV, a folder of CSVs, gzip,
Parquet, `NA`-style spellings for blanks, a U+2028 in a quoted field; split=time; a changed file refused.

The rows are drawn so that each lands in the same split by the CSV rule (a hash of its line) and by the
Parquet rule (a hash of its values): the comparison across formats is then of values alone. The two
rules themselves are pinned in test_transform.py and the golden test.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common.content import ContentChangedError
from components.common.specs.base import Categorical, Column, DatasetSpec, Label, Numeric, TimestampParts
from components.data.sources import resolve_source
from components.data.values import RawDataError, parse_column
from components.evaluate.eval_rows import read_eval_columns
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.rows import split_of, splits_of_buckets, to_csv_line, value_buckets
from components.transform.task import run_transform

pytestmark = pytest.mark.slow


def _card(raw):
    return tf.cast(tf.equal(raw["payment"], "card"), tf.int64)


SPEC = DatasetSpec(
    name="sources",
    description="a few hundred rows in every layout and format",
    columns=(
        Column("amount", "float", max_null_fraction=0.5),
        Column("lat", "float", max_null_fraction=0.5),
        Column("payment", "string"),
        Column("started", "int"),
        Column("color", "string", max_null_fraction=0.5),
    ),
    label=Label("card", ("payment",), ("payment",), _card, 'payment == "card"'),
    features=(Numeric("amount"), Numeric("lat"), Categorical("color"), TimestampParts("started")),
    min_rows=1,
    eval_fraction=0.25,
    validation_fraction=0.2,
)
HEADER = list(SPEC.column_names)
FRACTIONS = (SPEC.eval_fraction, SPEC.validation_fraction)
ODD_COLOR = "big\u2028red, shiny"  # csv.writer quotes it (the comma); the U+2028 must stay inside
SPELLINGS = {"amount": ("NA", "nan", "null"), "lat": ("N/A", "None", "NaN"), "color": ("NA",)}


def _typed(rows: list[list[str]]) -> pa.Table:
    columns = {
        name: parse_column(SPEC, name, [row[i] for row in rows], lambda at: f"row {at}")
        for i, name in enumerate(HEADER)
    }
    return pa.table(columns)


def _rows() -> list[list[str]]:
    """Seeded rows, ~15% blanks, each landing in the same split under both hash rules."""
    rng = np.random.default_rng(22)
    candidates = []
    for _ in range(700):
        gap = rng.uniform(size=3) < 0.15
        candidates.append(
            [
                "" if gap[0] else f"{rng.uniform(1, 90):.3f}",
                "" if gap[1] else f"{rng.uniform(41.6, 42.0):.5f}",
                str(rng.choice(["card", "cash"])),
                str(1_400_000_000 + int(rng.integers(0, 200 * 86_400))),
                "" if gap[2] else str(rng.choice(["red", "blue", "teal", ODD_COLOR])),
            ]
        )
    by_value = splits_of_buckets(value_buckets(_typed(candidates), HEADER), *FRACTIONS)
    return [row for row, split in zip(candidates, by_value) if split_of(to_csv_line(row), *FRACTIONS) == split]


ROWS = _rows()


def _write_csv(path: Path, rows: list[list[str]], opener=open) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _spelled(rows: list[list[str]]) -> list[list[str]]:
    """The same rows with every blank of a nullable column written as one of the missing spellings."""
    spelled = []
    for number, row in enumerate(rows):
        spelled.append(
            [
                SPELLINGS[name][number % len(SPELLINGS[name])] if value == "" and name in SPELLINGS else value
                for name, value in zip(HEADER, row)
            ]
        )
    return spelled


def _transformed(root: Path, data: str, **kwargs) -> dict:
    """Row counts, every split's transformed rows in a fixed order, and evaluate's reading of the eval rows."""
    result = run_transform(data, SPEC, root / "graph", root / "examples", root / "eval.csv", **kwargs)
    feature_spec = tft.TFTransformOutput(str(root / "graph")).transformed_feature_spec()
    splits = {}
    for split in (TRAIN, VALIDATION, EVAL):
        files = sorted(str(p) for p in (root / "examples").glob(f"{split}-*"))
        records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
        parsed = {name: value.numpy() for name, value in tf.io.parse_example(records, feature_spec).items()}
        names = sorted(parsed)
        # Each row flattened (a piecewise-linear encoding is a vector), rows sorted by their rounded values.
        flat = np.concatenate([parsed[name].reshape(len(records), -1).astype("float64") for name in names], axis=1)
        order = np.lexsort(np.round(flat, 4).T[::-1])
        splits[split] = {name: parsed[name][order] for name in names}
    counts = {TRAIN: result.train_rows, VALIDATION: result.validation_rows, EVAL: result.eval_rows}
    return {"rows": counts, "splits": splits, "eval": read_eval_columns(root / "eval.csv", SPEC)}


def _assert_same(actual: dict, expected: dict) -> None:
    assert actual["rows"] == expected["rows"]
    for split, columns in expected["splits"].items():
        for name, values in columns.items():
            np.testing.assert_allclose(actual["splits"][split][name], values, rtol=1e-5, atol=1e-5, err_msg=name)
    for name, values in expected["eval"].items():
        np.testing.assert_array_equal(np.sort(actual["eval"][name].numpy()), np.sort(values.numpy()), err_msg=name)


@pytest.fixture(scope="module")
def one_file(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("one")
    return _transformed(root, str(_write_csv(root / "raw.csv", ROWS)))


def test_the_rows_reach_every_split_and_evaluate_reads_them(one_file):
    assert sum(one_file["rows"].values()) == len(ROWS) > 200
    assert min(one_file["rows"].values()) > 20
    assert len(one_file["eval"]["payment"]) == one_file["rows"][EVAL]


def test_a_folder_of_three_csv_files_transforms_as_one_file(one_file, tmp_path):
    third = len(ROWS) // 3
    for part, rows in enumerate((ROWS[:third], ROWS[third : 2 * third], ROWS[2 * third :])):
        _write_csv(tmp_path / "raw" / f"part-{part}.csv", rows)
    _assert_same(_transformed(tmp_path, str(tmp_path / "raw")), one_file)


def test_gzip_csv_transforms_as_the_plain_file(one_file, tmp_path):
    data = _write_csv(tmp_path / "raw.csv.gz", ROWS, opener=gzip.open)
    _assert_same(_transformed(tmp_path, str(data)), one_file)


def test_parquet_transforms_as_csv_of_the_same_rows(one_file, tmp_path):
    pq.write_table(_typed(ROWS), tmp_path / "raw.parquet", row_group_size=97)
    _assert_same(_transformed(tmp_path, str(tmp_path / "raw.parquet")), one_file)


def test_missing_spellings_transform_as_blanks(one_file, tmp_path):
    spelled = _spelled(ROWS)
    assert spelled != ROWS and any("NA" in row for row in spelled) and any("nan" in row for row in spelled)
    _assert_same(_transformed(tmp_path, str(_write_csv(tmp_path / "raw.csv", spelled))), one_file)


def test_a_u2028_inside_a_quoted_field_survives_transform_and_evaluate(one_file):
    odd = [row for row in ROWS if row[4] == ODD_COLOR]
    eval_colors = one_file["eval"]["color"].numpy().tolist()
    assert odd and ODD_COLOR.encode() in eval_colors
    # every row came through whole: evaluate's columns line up with the eval rows transform counted
    assert len(eval_colors) == one_file["rows"][EVAL]
    assert set(eval_colors) <= {b"red", b"blue", b"teal", ODD_COLOR.encode(), b""}


def test_split_time_puts_exactly_the_newest_span_in_eval(tmp_path):
    days = ("2026-01-01", "2026-01-02", "2026-01-03")
    third = len(ROWS) // 3
    spans = (ROWS[:third], ROWS[third : 2 * third], ROWS[2 * third :])
    for day, rows in zip(days, spans):
        _write_csv(tmp_path / "trips" / f"date={day}" / "part-0.csv", rows)
    pattern = f"{tmp_path}/trips/date={{YYYY-MM-DD}}/"
    result = run_transform(pattern, SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv", split="time")
    assert result.eval_rows == len(spans[-1])
    assert result.train_rows + result.validation_rows == len(spans[0]) + len(spans[1])
    assert result.validation_rows > 0
    with (tmp_path / "eval.csv").open(newline="", encoding="utf-8") as handle:
        written = list(csv.reader(handle))
    assert written[0] == HEADER and sorted(written[1:]) == sorted(spans[-1])


def test_split_time_needs_two_spans(tmp_path):
    data = _write_csv(tmp_path / "raw.csv", ROWS)
    with pytest.raises(ValueError, match=rf"split=time .* {data} has 0 span\(s\)"):
        run_transform(str(data), SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv", split="time")
    with pytest.raises(ValueError, match="split='random': expected one of"):
        run_transform(str(data), SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv", split="random")


def test_a_file_changed_after_its_manifest_is_refused_naming_it(tmp_path):
    for part in range(3):
        _write_csv(tmp_path / "raw" / f"part-{part}.csv", ROWS[part::3])
    source = resolve_source(str(tmp_path / "raw"))
    _write_csv(tmp_path / "raw" / "part-1.csv", ROWS[1::3][:-1])  # rewritten after validate listed it
    with pytest.raises(ContentChangedError, match=rf"{tmp_path / 'raw' / 'part-1.csv'} changed"):
        run_transform(source, SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv")
    assert not (tmp_path / "g").exists()


def test_a_parquet_column_of_the_wrong_type_is_refused_naming_it(tmp_path):
    typed = _typed(ROWS).set_column(3, "started", pa.array([str(v) for v in _typed(ROWS)["started"].to_pylist()]))
    pq.write_table(typed, tmp_path / "raw.parquet")
    with pytest.raises(RawDataError, match=rf"{tmp_path / 'raw.parquet'}: column 'started' is string"):
        run_transform(str(tmp_path / "raw.parquet"), SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv")
