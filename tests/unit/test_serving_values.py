"""Serving reads values by the training rules, without training a model: the graph's parsing
(components/data/raw_tensors.py) against components/data/values.py on every spelling, its refusals, and
the MLflow signature against pandas' and pyarrow's reads of every bundled dataset."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException

from components.common.specs import get_spec
from components.data.raw_tensors import dense_to_sparse, parse_csv_rows
from components.data.values import RawDataError, parse_column
from components.train import mlflow_model
from pipelines.datasets import bundled_datasets, materialize_dataset

PENGUINS = get_spec("penguins")  # nullable floats and a nullable text column beside never-missing ones
ROW = ["Adelie", "Torgersen", "39.1", "18.7", "181", "3750", "male", "2007"]


def _line(**values: str) -> str:
    row = dict(zip(PENGUINS.column_names, ROW)) | values
    return ",".join(f'"{row[name]}"' if "," in row[name] else row[name] for name in PENGUINS.column_names)


def _parsed(*lines: str, spec=PENGUINS) -> dict[str, np.ndarray]:
    return {name: value.numpy() for name, value in parse_csv_rows(tf.constant(list(lines)), spec).items()}


def _refused(*lines: str, spec=PENGUINS) -> str:
    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        dense_to_sparse(parse_csv_rows(tf.constant(list(lines)), spec), spec)
    return refused.value.message


@pytest.mark.parametrize("spelling", PENGUINS.missing_values)
def test_every_missing_spelling_reads_as_the_blank_does_in_numbers_and_text(spelling: str) -> None:
    blank = _parsed(_line(bill_length_mm="", body_mass_g="", sex=""))
    spelled = _parsed(_line(bill_length_mm=spelling, body_mass_g=f" {spelling} ", sex=spelling))
    assert math.isnan(spelled["bill_length_mm"][0]) and math.isnan(spelled["body_mass_g"][0])
    assert spelled["sex"][0] == b""
    for name in PENGUINS.column_names:
        np.testing.assert_array_equal(spelled[name], blank[name])
    sparse = dense_to_sparse(parse_csv_rows(tf.constant([_line(sex=spelling)]), PENGUINS), PENGUINS)
    assert sparse["sex"].values.shape[0] == 0 and sparse["island"].values.shape[0] == 1


@pytest.mark.parametrize(
    "texts",
    [
        ["39.1", "", "NA", " nan ", "null", "1e5", "+.5", "5.", "-0", "1e-400"],
        ["inf", "39.1"],
        ["1e400"],
        ["-Infinity"],
        ["far"],
        ["0,5"],
    ],
)
def test_the_graph_reads_a_float_column_as_values_py_does(texts: list[str]) -> None:
    lines = [_line(bill_length_mm=text) for text in texts]
    try:
        expected = parse_column(PENGUINS, "bill_length_mm", texts, lambda i: f"line {i + 2}").to_pylist()
    except RawDataError:
        assert "column 'bill_length_mm'" in _refused(*lines)
        return
    got = _parsed(*lines)["bill_length_mm"].tolist()
    assert [math.nan if value is None else value for value in expected] == pytest.approx(got, nan_ok=True)


@pytest.mark.parametrize(("text", "expected"), [("2007", 2007.0), ("2007.0", 2007.0), (" 2008 ", 2008.0)])
def test_an_int_column_takes_whole_numbers(text: str, expected: float) -> None:
    assert _parsed(_line(year=text))["year"].tolist() == [expected]
    assert parse_column(PENGUINS, "year", [text], str).to_pylist() == [expected]


@pytest.mark.parametrize("text", ["2007.5", "inf", "9.3e18", "2e3x"])
def test_an_int_column_refuses_what_values_py_refuses(text: str) -> None:
    with pytest.raises(RawDataError, match="column 'year'"):
        parse_column(PENGUINS, "year", [text], str)
    assert "column 'year'" in _refused(_line(year=text))


def test_a_column_declaring_non_finite_missing_reads_inf_as_missing() -> None:
    columns = tuple(
        dataclasses.replace(column, non_finite="missing") if column.name == "bill_length_mm" else column
        for column in PENGUINS.columns
    )
    spec = dataclasses.replace(PENGUINS, columns=columns)
    parsed = _parsed(_line(bill_length_mm="inf"), _line(bill_length_mm="1e400"), _line(), spec=spec)["bill_length_mm"]
    assert math.isnan(parsed[0]) and math.isnan(parsed[1]) and parsed[2] == pytest.approx(39.1)
    dense = {name: tf.constant(value) for name, value in _parsed(_line(), spec=spec).items()}
    dense["bill_length_mm"] = tf.constant([math.inf], tf.float64)
    assert dense_to_sparse(dense, spec)["bill_length_mm"].values.shape[0] == 0
    assert "expected a finite number" in _refused(_line(bill_length_mm="inf"))


def test_a_never_missing_feature_without_a_value_is_refused_naming_column_and_rows() -> None:
    message = _refused(_line(), _line(island="NA"), _line(island=""))
    assert "column 'island': expected a value (max_null_fraction is 0), missing in row(s)" in message
    assert message.endswith("\n1, 2")  # eager: the rows without a value, after the message
    # The label is no serving input: its source column may be missing in a request.
    dense_to_sparse(parse_csv_rows(tf.constant([_line(species="")]), PENGUINS), PENGUINS)


def test_the_pyfunc_names_the_refusal_a_signature_function_raises() -> None:
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(rows: tf.Tensor) -> tf.Tensor:
        return dense_to_sparse(parse_csv_rows(rows, PENGUINS), PENGUINS)["island"].values

    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        serve(tf.constant([_line(), _line(island="null")]))
    assert mlflow_model.refusal(refused.value.message) == (
        "column 'island': expected a value (max_null_fraction is 0), missing in row(s) 1"
    )


@pytest.fixture(scope="module")
def bundled_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("bundled")
    files = {}
    for dataset in bundled_datasets():
        csv = materialize_dataset(dataset, root / f"{dataset}.csv")
        parquet = root / f"{dataset}.parquet"
        pd.read_csv(csv).to_parquet(parquet)
        files[dataset] = (csv, parquet)
    return files


@pytest.mark.parametrize("dataset", bundled_datasets())
def test_the_signature_accepts_the_training_data_as_pandas_and_pyarrow_read_it(
    dataset: str, bundled_files: dict[str, tuple[Path, Path]]
) -> None:
    spec = get_spec(dataset)
    schema = mlflow_model.input_schema(mlflow_model.spec_inputs(spec))
    csv, parquet = bundled_files[dataset]
    label = list(spec.label.source_columns)
    for frame in (pd.read_csv(csv), pd.read_parquet(parquet), pd.read_csv(csv).head(7), pd.read_parquet(parquet)[3:9]):
        mlflow.models.validate_schema(frame.drop(columns=label), schema)
    ints = [name for name in spec.feature_columns if spec.column(name).dtype == "int"]
    if ints:  # as pandas' nullable Int64 (what the reader's read_frame gives) too
        frame = pd.read_csv(csv).drop(columns=label)
        mlflow.models.validate_schema(frame.astype(dict.fromkeys(ints, "Int64")), schema)


def test_a_never_missing_int_is_long_a_never_missing_float_double_a_nullable_number_any() -> None:
    churn = dict(mlflow_model.spec_inputs(get_spec("mlc_churn")))
    assert (churn["account_length"], churn["total_day_minutes"], churn["state"]) == ("long", "double", "string")
    penguins = dict(mlflow_model.spec_inputs(PENGUINS))
    assert (penguins["bill_length_mm"], penguins["sex"], penguins["island"]) == ("any", "string", "string")
    schema = mlflow_model.input_schema(list(churn.items()))
    rows = pd.DataFrame([{name: 1 if kind != "string" else "x" for name, kind in churn.items()}] * 2)
    mlflow.models.validate_schema(rows, schema)
    with pytest.raises(MlflowException, match="column account_length"):
        mlflow.models.validate_schema(rows.assign(account_length=[1.0, np.nan]), schema)
