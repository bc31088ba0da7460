"""Every bundled dataset's model (the real transform and train, 1 epoch on a few hundred rows) as an MLflow
model: pyfunc answers its whole file as pandas and pyarrow read it, reads the missing spellings as
training does, and refuses a never-missing column without a value naming it."""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.data.baseline import BaselineBuilder, spec_kinds
from components.data.values import never_missing
from components.tasks import task_of
from components.train import input_example, mlflow_model
from components.train.hyperparameters import Hyperparameters
from components.train.task import train_model
from components.transform.task import run_transform
from pipelines.datasets import bundled_datasets, materialize_dataset

pytestmark = pytest.mark.slow

ROWS = 300


def _trained(dataset: str, root: Path) -> tuple[mlflow.pyfunc.PyFuncModel, pd.DataFrame]:
    """The dataset's model made an MLflow model as the train step makes it, with an example from its
    baseline; and its whole bundled file as pandas reads it."""
    spec = get_spec(dataset)
    whole = materialize_dataset(dataset, root / "whole.csv")
    with whole.open() as handle:
        kept = list(itertools.islice(csv.reader(handle), ROWS + 1))  # nycflights' whole file is 328,521 rows
    data = root / "train.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows(kept)
    run_transform(str(data), spec, root / "graph", root / "examples", root / "eval.csv")
    train_model(spec, root / "graph", root / "examples", root / "model", Hyperparameters(epochs=1, hidden_units=(8,)))
    builder = BaselineBuilder(dataset, str(data), spec_kinds(spec))
    builder.add(pd.read_csv(data))
    example = input_example.example_rows(spec, builder.finish())
    inputs = mlflow_model.spec_inputs(spec)
    mlflow_model.make_mlflow_model(root / "model", inputs, example, None, spec.missing_values)
    return mlflow.pyfunc.load_model(str(root / "model")), pd.read_csv(whole)


@dataclass(frozen=True)
class Trained:
    spec: DatasetSpec
    model: mlflow.pyfunc.PyFuncModel
    rows: pd.DataFrame  # the whole bundled file as pd.read_csv reads it, without the label
    model_dir: Path


@pytest.fixture(scope="module", params=bundled_datasets())
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    spec = get_spec(request.param)
    root = tmp_path_factory.mktemp(spec.name)
    model, frame = _trained(spec.name, root)
    return Trained(spec, model, frame.drop(columns=list(spec.label.source_columns)), root / "model")


def _answers(model: mlflow.pyfunc.PyFuncModel, frame: pd.DataFrame) -> dict[str, list]:
    return {name: values.tolist() for name, values in model.predict(frame).items()}


def test_pyfunc_answers_the_whole_file_as_pandas_and_pyarrow_read_it(trained: Trained, tmp_path: Path) -> None:
    from_csv = _answers(trained.model, trained.rows)
    assert sorted(from_csv) == sorted(task_of(trained.spec).serving_output_names)
    assert all(len(values) == len(trained.rows) for values in from_csv.values())
    trained.rows.to_parquet(tmp_path / "rows.parquet")
    assert _answers(trained.model, pd.read_parquet(tmp_path / "rows.parquet")) == from_csv


def test_the_missing_spellings_give_the_prediction_blanks_give(trained: Trained) -> None:
    spec = trained.spec
    optional = [name for name in spec.feature_columns if name not in never_missing(spec)]
    if not optional:
        pytest.skip(f"every {spec.name} feature column is never missing (the refusal test covers it)")
    rows = trained.rows.head(len(spec.missing_values)).astype(object).reset_index(drop=True)
    blank = rows.copy()
    for row, spelling in enumerate(spec.missing_values):
        for name in optional:
            padded = row % 2 and spec.column(name).dtype != "string"  # numbers are read after stripping spaces
            rows.loc[row, name] = f" {spelling} " if padded else spelling
            blank.loc[row, name] = None
    assert _answers(trained.model, rows) == _answers(trained.model, blank)


def test_a_never_missing_column_without_a_value_is_refused_naming_it(trained: Trained) -> None:
    spec = trained.spec
    required = [name for name in spec.feature_columns if name in never_missing(spec)]
    if not required:
        pytest.skip(f"every {spec.name} feature column may be missing")
    for name in (required[0], required[-1]):
        rows = trained.rows.head(3).astype(object)
        rows.loc[rows.index[2], name] = "NA"
        with pytest.raises(MlflowException, match=f"column '?{name}'?") as refused:
            trained.model.predict(rows)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_the_input_example_holds_training_values_and_a_row_missing_what_may_be(trained: Trained) -> None:
    spec = trained.spec
    example = json.loads((trained.model_dir / "serving_input_example.json").read_text())["dataframe_split"]
    optional = {name for name in spec.feature_columns if name not in never_missing(spec)}
    rows = [dict(zip(example["columns"], row)) for row in example["data"]]
    texts = {name for name, (kind, _, _) in spec_kinds(spec).items() if kind == "text"}  # no value to show
    typical = len(input_example.EXAMPLE_QUANTILES) if set(spec.feature_columns) - texts else 0
    assert len(rows) == typical + (1 if optional else 0)
    for row in rows:
        assert all(not _missing(row[name]) for name in spec.feature_columns if name not in optional)
    if optional:
        assert all(_missing(rows[-1][name]) for name in optional)
        assert {name: rows[-1][name] for name in spec.feature_columns if name not in optional} == {
            name: rows[1][name] for name in spec.feature_columns if name not in optional
        }
    ints = [name for name in spec.feature_columns if spec.column(name).dtype == "int"]
    assert all(isinstance(row[name], int) for row in rows for name in ints if not _missing(row[name]))


def _missing(value: object) -> bool:
    return value is None or value != value  # null, or NaN (NaN != NaN)
