"""tf.Transform on a tiny input: values, schema, split and the eval rows, against known answers."""

import csv
import datetime as dt
from pathlib import Path

import boto3
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common.content import ContentChangedError, ContentDigest
from components.common.specs.base import (
    Categorical,
    Column,
    DatasetSpec,
    Label,
    LatLongCross,
    Numeric,
    TimestampParts,
)
from components.data.values import RawDataError
from components.transform.direct import PARALLEL_FROM_BYTES, direct_worker_flags
from components.transform.features import categorical_cardinalities
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.roles.time_parts import time_parts
from components.transform.rows import split_of
from components.transform.task import OutputLocations, beam_flags, run_transform

pytestmark = pytest.mark.slow


def paid_by_card(raw):
    return tf.cast(tf.equal(raw["payment"], "card"), tf.int64)


TINY_SPEC = DatasetSpec(
    name="tiny",
    description="a handful of rows for transform tests",
    columns=(
        Column("amount", "float", max_null_fraction=0.5),
        Column("payment", "string"),
        Column("started", "int"),
        Column("lat", "float", max_null_fraction=0.5),
        Column("lon", "float", max_null_fraction=0.5),
        Column("color", "string", max_null_fraction=0.5),
    ),
    label=Label("card", ("payment",), ("payment",), paid_by_card, 'payment == "card"'),
    features=(
        Numeric("amount", encoding="z"),
        Numeric("amount", encoding="piecewise_linear", bins=4),
        Numeric("amount", encoding="quantile_bins", bins=4),
        Categorical("color"),
        TimestampParts("started"),
        LatLongCross("cell", "lat", "lon", num_buckets=2),
    ),
    slice_columns=(),
    min_rows=1,
    thresholds={"roc_auc": 0.5, "accuracy": 0.5, "log_loss": 1.0},
    eval_fraction=0.25,
    validation_fraction=0.2,
)

# 2014-05-16 19:45:00 UTC, a Friday
FRIDAY_EVENING = 1400269500
ROWS = [
    ["1.0", "card", str(FRIDAY_EVENING), "41.8", "-87.6", "red"],
    ["2.0", "cash", str(FRIDAY_EVENING + 3600), "41.9", "-87.7", "red"],
    ["3.0", "card", str(FRIDAY_EVENING + 86400), "", "", "blue"],
    ["", "cash", str(FRIDAY_EVENING), "41.7", "-87.5", "red"],
    ["5.0", "card", str(FRIDAY_EVENING), "41.8", "-87.6", ""],
    ["6.0", "cash", str(FRIDAY_EVENING), "41.95", "-87.65", "green"],
    ["7.0", "card", str(FRIDAY_EVENING), "41.85", "-87.55", "red"],
    ["8.0", "cash", str(FRIDAY_EVENING), "41.75", "-87.62", "blue"],
    ["9.0", "card", str(FRIDAY_EVENING), "41.81", "-87.61", "red"],
    ["10.0", "cash", str(FRIDAY_EVENING), "41.82", "-87.63", "blue"],
]


def _line(row: list[str]) -> str:
    return ",".join(row)


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    root = tmp_path_factory.mktemp("transform")
    data = root / "raw.csv"
    # Columns in another order than the spec's: the transform maps them by header.
    header = ["color", "amount", "payment", "started", "lat", "lon"]
    order = [TINY_SPEC.column_names.index(name) for name in header]
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in ROWS:
            writer.writerow([row[i] for i in order])
    file_lines = data.read_text().splitlines()[1:]
    splits = [split_of(line, TINY_SPEC.eval_fraction, TINY_SPEC.validation_fraction) for line in file_lines]
    result = run_transform(str(data), TINY_SPEC, root / "graph", root / "examples", root / "eval.csv")
    return root, result, splits


def _read(root: Path, split: str) -> dict[str, np.ndarray]:
    tft_output = tft.TFTransformOutput(str(root / "graph"))
    files = sorted(str(p) for p in (root / "examples").glob(f"{split}-*"))
    batch = tf.io.parse_example(
        list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()),
        tft_output.transformed_feature_spec(),
    )
    return {name: value.numpy() for name, value in batch.items()}


def test_split_is_deterministic_and_counted(transformed):
    root, result, splits = transformed
    assert result.train_rows == splits.count(TRAIN)
    assert result.validation_rows == splits.count(VALIDATION)
    assert result.eval_rows == splits.count(EVAL)
    assert result.train_rows + result.validation_rows + result.eval_rows == len(ROWS)
    assert 0 < result.eval_rows < len(ROWS) and result.validation_rows > 0, "the tiny data should land in every split"
    assert len(_read(root, VALIDATION)["card"]) == result.validation_rows


def test_split_follows_the_row_hash_alone():
    lines = [f"{i}.5,card,{FRIDAY_EVENING + i},41.8,-87.6,red" for i in range(4000)]
    splits = [split_of(line, 0.2, 0.1) for line in lines]
    assert splits == [split_of(line, 0.2, 0.1) for line in reversed(lines)][::-1]
    shares = {name: splits.count(name) / len(lines) for name in (TRAIN, VALIDATION, EVAL)}
    assert shares[EVAL] == pytest.approx(0.2, abs=0.03) and shares[VALIDATION] == pytest.approx(0.1, abs=0.03)
    # Adding the validation split moves rows out of train only: eval stays the same rows.
    assert [s == EVAL for s in splits] == [split_of(line, 0.2) == EVAL for line in lines]


def test_transformed_schema(transformed):
    root, _, _ = transformed
    feature_spec = tft.TFTransformOutput(str(root / "graph")).transformed_feature_spec()
    assert set(feature_spec) == {
        "amount_z",
        "amount_ple",
        "amount_bin",
        "color_id",
        "started_hour",
        "started_weekday",
        "started_month",
        "cell",
        "card",
    }
    assert feature_spec["amount_z"].dtype == tf.float32
    assert feature_spec["amount_ple"].dtype == tf.float32 and list(feature_spec["amount_ple"].shape) == [4]
    for name in ("amount_bin", "color_id", "started_hour", "started_weekday", "started_month", "cell", "card"):
        assert feature_spec[name].dtype == tf.int64, name


def test_values_match_known_answers(transformed):
    root, _, splits = transformed
    train_rows = [row for row, split in zip(ROWS, splits) if split == TRAIN]
    train = _read(root, TRAIN)
    # z-score of the train amounts, a missing amount counted as 0 (the spec default)
    amounts = np.array([float(row[0] or 0) for row in train_rows])
    expected_z = (amounts - amounts.mean()) / amounts.std()
    np.testing.assert_allclose(np.sort(train["amount_z"]), np.sort(expected_z), rtol=1e-5, atol=1e-5)
    # the label follows the payment column
    assert sorted(train["card"].tolist()) == sorted(int(row[1] == "card") for row in train_rows)
    # the most frequent colour of the train split gets id 0 (rows come back in Beam's order: count ids)
    colours = [row[5] for row in train_rows]
    assert np.count_nonzero(train["color_id"] == 0) == max(colours.count(c) for c in set(colours))
    assert len(set(train["color_id"].tolist())) == len(set(colours))
    # Friday 19:45 UTC in May → hour 19, weekday 4 (Monday = 0), month 4 (January = 0)
    assert np.count_nonzero(train["started_hour"] == 19) >= 1
    assert set(train["started_weekday"].tolist()) <= {4, 5}
    assert set(train["started_month"].tolist()) == {4}


def test_numeric_encodings_take_their_edges_from_the_train_split_and_serve_as_trained(transformed):
    root, _, splits = transformed
    train_amounts = np.array([float(row[0] or 0) for row, split in zip(ROWS, splits) if split == TRAIN])
    train = _read(root, TRAIN)
    order = np.argsort(train["amount_z"], kind="stable")  # the z-score orders the train rows by amount
    amounts, ple, bins = np.sort(train_amounts), train["amount_ple"][order], train["amount_bin"][order]
    # Piecewise-linear: the train split's smallest amount is all 0, its largest all 1; in between, each row
    # is 1s, then its place within its own bin, then 0s; more amount, never less encoding.
    assert ple.shape == (len(amounts), 4) and ((ple >= 0) & (ple <= 1)).all()
    np.testing.assert_array_equal(ple[0], np.zeros(4))
    np.testing.assert_array_equal(ple[-1], np.ones(4))
    for encoded in ple:
        partial = np.flatnonzero((encoded > 0) & (encoded < 1))
        assert len(partial) <= 1 and (encoded[: partial[0] if len(partial) else 0] == 1).all(), encoded
    assert (np.diff(ple.sum(axis=1)) >= 0).all() and (np.diff(bins) >= 0).all()
    # Quantile bins: ids in [0, bins), the smallest train amount in the first, the largest in the last used.
    assert bins.min() == 0 and bins.max() <= 3 and len(set(bins.tolist())) > 1
    # Edges are train amounts: an amount beyond the train split's range encodes as its edge does.
    tft_output = tft.TFTransformOutput(str(root / "graph"))
    beyond = np.array([amounts.min() - 100.0, amounts.max() + 100.0], dtype=np.float32)
    served = _serve(tft_output, np.concatenate([train_amounts, beyond]).astype(np.float32))
    np.testing.assert_array_equal(served["amount_ple"][-2:], [np.zeros(4), np.ones(4)])
    # Served values equal training values on the same rows (the same graph, outside Beam).
    served_order = np.argsort(served["amount_z"][:-2], kind="stable")
    for name in ("amount_z", "amount_ple", "amount_bin"):
        np.testing.assert_allclose(served[name][:-2][served_order], train[name][order], rtol=1e-6, atol=1e-6)


def _serve(tft_output: tft.TFTransformOutput, amounts: np.ndarray) -> dict[str, np.ndarray]:
    """The transform graph applied to raw amounts, the other columns as one fixed row."""
    rows = len(amounts)
    indices = tf.constant([[i, 0] for i in range(rows)], tf.int64)

    def column(values, dtype):
        return tf.SparseTensor(indices, tf.constant(values, dtype), [rows, 1])

    raw = {
        "amount": column(amounts, tf.float32),
        "payment": column(["card"] * rows, tf.string),
        "started": column([FRIDAY_EVENING] * rows, tf.int64),
        "lat": column([41.8] * rows, tf.float32),
        "lon": column([-87.6] * rows, tf.float32),
        "color": column(["red"] * rows, tf.string),
    }
    return {name: value.numpy() for name, value in tft_output.transform_raw_features(raw).items()}


def test_missing_coordinates_get_their_own_cell(transformed):
    root, _, splits = transformed
    tft_output = tft.TFTransformOutput(str(root / "graph"))
    assert categorical_cardinalities(TINY_SPEC, tft_output)["cell"] == 9
    cells = np.concatenate([_read(root, TRAIN)["cell"], _read(root, EVAL)["cell"]])
    assert cells.min() >= 0 and cells.max() <= 8
    # exactly one row has no coordinates: it is in cell (2, 2) = 8
    assert np.count_nonzero(cells == 8) == 1


def test_eval_rows_written_raw_in_spec_order(transformed):
    root, _, splits = transformed
    lines = (root / "eval.csv").read_text().splitlines()
    assert lines[0] == ",".join(TINY_SPEC.column_names)
    expected = sorted(_line(row) for row, split in zip(ROWS, splits) if split == EVAL)
    assert sorted(lines[1:]) == expected


def test_time_parts_agree_with_the_calendar():
    seconds = np.array([0, 951782400, 1400269500, 1483228799, 1709251200, 4102444800], dtype=np.int64)
    parts = {name: value.numpy() for name, value in time_parts(tf.constant(seconds)).items()}
    for i, second in enumerate(seconds):
        moment = dt.datetime.fromtimestamp(int(second), tz=dt.UTC)
        assert parts["hour"][i] == moment.hour
        assert parts["weekday"][i] == moment.weekday()
        assert parts["month"][i] == moment.month - 1


def test_reads_raw_data_from_s3_at_a_custom_endpoint(s3_endpoint, tmp_path):
    rows = [["9.5", "card", str(FRIDAY_EVENING), "41.8", "-87.6", "red"]] * 4 + ROWS
    body = ",".join(TINY_SPEC.column_names) + "\n" + "\n".join(_line(row) for row in rows) + "\n"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="raw")
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(Bucket="raw", Key="tiny/data.csv", Body=body.encode())
    result = run_transform(
        "s3://raw/tiny/data.csv",
        TINY_SPEC,
        tmp_path / "graph",
        tmp_path / "examples",
        tmp_path / "eval.csv",
        beam_options=beam_flags("[]", s3_endpoint),
    )
    assert result.train_rows + result.validation_rows + result.eval_rows == len(rows)


def test_beam_flags_take_the_s3_endpoint_unless_the_user_set_one():
    assert beam_flags('["--direct_num_workers=2"]', "http://minio:9000") == [
        "--direct_num_workers=2",
        "--s3_endpoint_url=http://minio:9000",
    ]
    assert beam_flags('["--s3_endpoint_url=http://mine"]', "http://minio:9000") == ["--s3_endpoint_url=http://mine"]
    assert beam_flags("", "") == []
    with pytest.raises(ValueError, match="beam_options must be a JSON list of strings"):
        beam_flags('{"runner": "x"}')


def _tiny_csv(path: Path, rows: list[list[str]] = ROWS, prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + (",".join(TINY_SPEC.column_names) + "\n" + "\n".join(map(_line, rows)) + "\n").encode())
    return path


def test_a_file_that_changed_since_validation_is_refused(tmp_path):
    data = _tiny_csv(tmp_path / "raw.csv")
    validated = ContentDigest.of_stream(data.open("rb"))
    _tiny_csv(data, ROWS[:-1])  # someone rewrote the file after validate passed it
    with pytest.raises(ContentChangedError, match=rf"{data} changed since validate checked it .*{validated.sha256}"):
        run_transform(
            str(data), TINY_SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv", expected_content=validated
        )
    assert not (tmp_path / "g").exists()


def test_a_byte_order_mark_is_read_as_validate_reads_it(tmp_path):
    data = _tiny_csv(tmp_path / "raw.csv", prefix=b"\xef\xbb\xbf")
    digest = ContentDigest.of_stream(data.open("rb"))
    result = run_transform(
        str(data), TINY_SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv", expected_content=digest
    )
    assert result.train_rows + result.validation_rows + result.eval_rows == len(ROWS)


def test_outputs_go_to_the_object_store_when_their_uris_say_so(s3_endpoint, tmp_path):
    """Examples and eval rows are written by Beam straight to s3:// (moto); the graph where TensorFlow can write."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="root")
    data = _tiny_csv(tmp_path / "raw.csv")
    result = run_transform(
        str(data),
        TINY_SPEC,
        tmp_path / "graph",
        "s3://root/run-1/transform/examples",
        "s3://root/run-1/transform/eval_data",
        beam_options=beam_flags("[]", s3_endpoint),
    )
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="root", Prefix="run-1/")["Contents"]}
    for split in (TRAIN, VALIDATION, EVAL):
        assert any(key.startswith(f"run-1/transform/examples/{split}-") for key in keys), (split, keys)
    eval_rows = s3.get_object(Bucket="root", Key="run-1/transform/eval_data")["Body"].read().decode().splitlines()
    assert eval_rows[0] == ",".join(TINY_SPEC.column_names) and len(eval_rows) - 1 == result.eval_rows


def test_output_locations_follow_the_runner():
    paths, uris = ["/p/g", "/p/e", "/p/d"], ["gs://b/root/t/g", "gs://b/root/t/e", "gs://b/root/t/d"]
    assert OutputLocations.for_runner("DirectRunner", paths, uris) == OutputLocations(*paths, temp=None)
    remote = OutputLocations.for_runner("DataflowRunner", paths, uris)
    assert remote == OutputLocations(*uris, temp="gs://b/root/t/tft-temp")
    with pytest.raises(ValueError, match="TensorFlow 2.21 has no s3:// file system"):
        OutputLocations.for_runner("FlinkRunner", paths, [u.replace("gs://", "s3://") for u in uris])
    with pytest.raises(ValueError, match="the pipeline root is local"):
        OutputLocations.for_runner("PortableRunner", paths, paths)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            ["1.0", "card", "soon", "41.8", "-87.6", "red"],
            "row '1.0,card,soon,.*', column 'started': expected a whole number \\(int\\), got 'soon'",
        ),
        (
            ["one", "card", str(FRIDAY_EVENING), "41.8", "-87.6", "red"],
            "row 'one,card,.*', column 'amount': expected a number \\(float\\), got 'one'",
        ),
        (["1.0", "card", str(FRIDAY_EVENING), "41.8", "-87.6"], "row has 5 fields, expected 6 \\(the header's\\)"),
    ],
)
def test_a_row_the_spec_cannot_read_fails_naming_file_and_column(tmp_path, row, expected):
    data = _tiny_csv(tmp_path / "raw.csv", ROWS + [row])
    with pytest.raises(RawDataError, match=rf"{data}: {expected}"):
        run_transform(str(data), TINY_SPEC, tmp_path / "g", tmp_path / "e", tmp_path / "eval.csv")


def test_direct_runner_workers_only_for_big_inputs_and_never_over_the_users_flags():
    big = PARALLEL_FROM_BYTES
    assert direct_worker_flags([], big, cores=2) == ["--direct_num_workers=2", "--direct_running_mode=multi_threading"]
    assert direct_worker_flags([], big - 1, cores=2) == []
    assert direct_worker_flags([], big, cores=1) == []
    assert direct_worker_flags(["--direct_num_workers=1"], big, cores=2) == []
    assert direct_worker_flags(["--direct_running_mode=in_memory"], big, cores=2) == []
