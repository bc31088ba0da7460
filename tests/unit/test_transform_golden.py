"""The transform's output on a fixed input equals the committed golden values.

The golden file was written by the transform before it read CSV into Arrow record batches (the
instance-dict path): a faster reader must not change a single value. Its numeric encodings (z-scores,
piecewise-linear vectors, quantile bin ids) were added with issue 24, the other values unchanged; the tests
below also check that their edges are the train split's and that the graph serves them as it trained.
Floats agree to 1e-6, relative or absolute: tf.Transform's means sum in Beam's bundle order, and a
z-score near 0 is the difference of two numbers near 1, so its float32 round-off is absolute.
Ids, counts and the eval rows agree exactly.
Regenerate (only when the transform's meaning changes on purpose) with
`python tests/unit/test_transform_golden.py --write`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common.specs.base import (
    Categorical,
    Column,
    DatasetSpec,
    Label,
    LatLongCross,
    Numeric,
    Text,
    TimestampParts,
)
from components.data.raw_tensors import dense_to_sparse, parse_csv_rows
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.task import run_transform

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "transform_golden.json"


def _sold(raw):
    return tf.cast(tf.equal(raw["sold"], "yes"), tf.int64)


SPEC = DatasetSpec(
    name="golden",
    description="every kind of feature, with missing values, for the transform's golden output",
    columns=(
        Column("price", "float", max_null_fraction=0.5),
        Column("weight", "float", max_null_fraction=0.5),
        Column("colour", "string", max_null_fraction=0.5),
        Column("listed", "int"),
        Column("lat", "float", max_null_fraction=0.5),
        Column("lon", "float", max_null_fraction=0.5),
        Column("note", "string", max_null_fraction=0.5),
        Column("sold", "string", allowed_values=("yes", "no")),
    ),
    label=Label("sold", ("sold",), ("sold",), _sold, 'sold == "yes"'),
    features=(
        Numeric("price", log=True),
        Numeric("weight"),
        Numeric("weight", encoding="quantile_bins", bins=4),
        Categorical("colour"),
        TimestampParts("listed"),
        LatLongCross("cell", "lat", "lon", num_buckets=3),
        Text("note", mode="bag_of_words", ngrams=2, vocab_size=8, sequence_length=6, oov_buckets=2),
    ),
    slice_columns=(),
    min_rows=1,
    thresholds={"roc_auc": 0.5},
    eval_fraction=0.2,
    validation_fraction=0.2,
)

WORDS = ["fast", "red", "old", "new", "cheap", "Big", "small,", "shiny!", "rusty"]


def write_rows(path: Path, count: int = 160) -> Path:
    """Fixed rows (a seeded generator), columns in another order than the spec's, ~15% of values missing."""
    rng = np.random.default_rng(7)
    header = ["sold", "note", "lon", "lat", "listed", "colour", "weight", "price"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for _ in range(count):
            gap = rng.uniform(size=6) < 0.15
            words = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 6))))
            row = {
                "price": "" if gap[0] else f"{rng.uniform(0.5, 900):.3f}",
                "weight": "" if gap[1] else f"{rng.normal(20, 7):.4f}",
                "colour": "" if gap[2] else str(rng.choice(["red", "blue", "green", "teal"])),
                "listed": str(1_400_000_000 + int(rng.integers(0, 90 * 86_400))),
                "lat": "" if gap[3] else f"{rng.uniform(41.6, 42.0):.5f}",
                "lon": "" if gap[3] else f"{rng.uniform(-87.9, -87.5):.5f}",
                "note": "" if gap[4] else words,
                "sold": str(rng.choice(["yes", "no"])),
            }
            writer.writerow([row[name] for name in header])
    return path


def _fixed_order(columns: dict[str, np.ndarray]) -> dict[str, list]:
    """Rows sorted by their values (floats rounded, so round-off cannot reorder them), as lists."""
    names = sorted(columns)
    rows = list(zip(*(columns[name].tolist() for name in names)))

    def key(row: tuple) -> tuple:
        return tuple(np.round(np.asarray(value, dtype=np.float64), 4).tolist() for value in row)

    rows.sort(key=key)
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def transformed_values(root: Path, beam_options: Sequence[str] = ()) -> dict:
    """Run the transform on the fixed rows; every split's parsed examples in a fixed order, counts, eval rows."""
    data = write_rows(root / "raw.csv")
    result = run_transform(
        str(data), SPEC, root / "graph", root / "examples", root / "eval.csv", beam_options=beam_options
    )
    feature_spec = tft.TFTransformOutput(str(root / "graph")).transformed_feature_spec()
    splits = {}
    for split in (TRAIN, VALIDATION, EVAL):
        files = sorted(str(p) for p in (root / "examples").glob(f"{split}-*"))
        records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
        parsed = tf.io.parse_example(records, feature_spec)
        splits[split] = _fixed_order({name: value.numpy() for name, value in parsed.items()})
    return {
        "rows": {TRAIN: result.train_rows, VALIDATION: result.validation_rows, EVAL: result.eval_rows},
        "dtypes": {name: feature_spec[name].dtype.name for name in sorted(feature_spec)},
        "splits": splits,
        "eval_csv": (root / "eval.csv").read_text(),
    }


@pytest.fixture(
    scope="module",
    params=[(), ("--direct_num_workers=2", "--direct_running_mode=multi_threading")],
    ids=["one-worker", "two-threads"],
)
def transformed(request, tmp_path_factory) -> tuple[Path, dict]:
    """One transform run per Beam setting, shared by the tests below."""
    root = tmp_path_factory.mktemp("golden")
    return root, transformed_values(root, request.param)


@pytest.mark.slow
def test_output_equals_the_golden_values(transformed):
    golden = json.loads(GOLDEN.read_text())
    _, actual = transformed
    assert actual["rows"] == golden["rows"]
    assert actual["eval_csv"] == golden["eval_csv"]
    assert actual["dtypes"] == golden["dtypes"]
    for split, columns in golden["splits"].items():
        assert sorted(actual["splits"][split]) == sorted(columns), split
        for name, expected in columns.items():
            got = np.asarray(actual["splits"][split][name])
            want = np.asarray(expected, dtype=got.dtype)
            assert got.shape == want.shape, (split, name)
            if golden["dtypes"][name].startswith("float"):
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{split} {name}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{split} {name}")


def _clean_counts(vectors: np.ndarray) -> set[int]:
    """How many 1s each vector of only 0s and 1s holds: a value exactly on an edge (or beyond the range)."""
    return {int(row.sum()) for row in vectors if np.isin(row, (0.0, 1.0)).all()}


@pytest.mark.slow
@pytest.mark.parametrize("column", ["price", "weight"])
def test_piecewise_linear_edges_are_the_train_splits_quantiles(transformed, column):
    """Every vector is 1s, then at most one value strictly between 0 and 1, then 0s, and grows with the value.

    The edges (minimum, the 15 inner quantiles, maximum) are train values: for each edge above the lowest
    some train row sits on it (a vector of only 0s and 1s), while a validation or eval row sits on one only
    when it holds the lowest (a missing value's default); edges from all rows would put held-out values on them.
    """
    _, actual = transformed
    ordered = {}
    for split, columns in actual["splits"].items():
        ple = np.asarray(columns[f"{column}_ple"])
        assert ple.shape == (actual["rows"][split], 16) and ((ple >= 0) & (ple <= 1)).all(), split
        for encoded in ple:
            partial = np.flatnonzero((encoded > 0) & (encoded < 1))
            full = partial[0] if len(partial) else int(encoded.sum())
            assert len(partial) <= 1 and (encoded[:full] == 1).all() and (encoded[full + 1 :] == 0).all(), encoded
        # The z-score orders the rows by value (same graph): more value, never less encoding in any bin.
        ordered[split] = ple[np.argsort(np.asarray(columns[f"{column}_z"]), kind="stable")]
        assert (np.diff(ordered[split], axis=0) >= 0).all(), split
    train = ordered[TRAIN]
    lowest, counts = int(train[0].sum()), _clean_counts(train)
    assert lowest in counts and train[-1].tolist() == [1.0] * 16
    assert set(range(lowest, 17)) <= counts, f"edges without a train row on them: {set(range(lowest, 17)) - counts}"
    held_out = _clean_counts(np.concatenate([ordered[VALIDATION], ordered[EVAL]]))
    assert held_out <= {lowest, 16}, f"held-out rows on an inner edge: {held_out}"


@pytest.mark.slow
def test_quantile_bins_split_the_train_rows_at_the_same_edges(transformed):
    """weight's 4 bin ids: a quarter of the train rows each (the approximate quantiles' rank error aside),
    and the id is the number of the 16-bin vector's quarter edges (bins 4, 8, 12) at or below the value."""
    _, actual = transformed
    train = actual["splits"][TRAIN]
    bins, ple = np.asarray(train["weight_bin"]), np.asarray(train["weight_ple"])
    quarter = actual["rows"][TRAIN] / 4
    assert all(abs(count - quarter) <= 2 for count in np.bincount(bins, minlength=4)), np.bincount(bins)
    for split, columns in actual["splits"].items():
        bins, ple = np.asarray(columns["weight_bin"]), np.asarray(columns["weight_ple"])
        np.testing.assert_array_equal(bins, (ple[:, [3, 7, 11]] == 1).sum(axis=1), err_msg=split)


@pytest.mark.slow
def test_served_values_equal_training_values_on_the_same_rows(transformed):
    """The eval split's raw rows (eval.csv) through the graph as the serving signature runs it (CSV lines
    parsed, the transform layer outside Beam) give exactly the eval examples' values."""
    root, actual = transformed
    lines = actual["eval_csv"].splitlines()[1:]
    layer = tft.TFTransformOutput(str(root / "graph")).transform_features_layer()
    served = layer(dense_to_sparse(parse_csv_rows(tf.constant(lines), SPEC), SPEC))
    served_rows = _fixed_order({name: value.numpy() for name, value in served.items()})
    trained = actual["splits"][EVAL]
    assert sorted(served_rows) == sorted(trained) and len(lines) == actual["rows"][EVAL]
    for name, values in trained.items():
        np.testing.assert_allclose(served_rows[name], values, rtol=1e-6, atol=1e-6, err_msg=name)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        values = transformed_values(Path(scratch))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}: rows {values['rows']}")
