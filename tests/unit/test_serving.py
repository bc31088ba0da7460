"""The champion as an MLflow model: logged by the real train step, registered by push, loaded with pyfunc
from models:/<name>@champion, and copied to the TensorFlow Serving layout; for every task type."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from gate_records import record_gate
from mlflow.exceptions import MlflowException
from test_serving_support import MODEL_NAME, SPEC, Champion, saved_model_outputs

from components.common import storage, tracking
from components.common.specs import get_spec
from components.push.task import push_model
from components.tasks import task_of
from components.train import input_example, mlflow_model
from components.train.hyperparameters import Hyperparameters
from components.train.task import train_model
from components.transform.task import run_transform
from pipelines.datasets import materialize_dataset

pytestmark = pytest.mark.slow


def _champion_model(champion: Champion) -> mlflow.pyfunc.PyFuncModel:
    champion.client()  # points mlflow's registry at the test store
    return mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")


def test_the_train_run_lists_its_logged_model_and_the_version_points_at_it(champion: Champion) -> None:
    client = champion.client()
    experiment = client.get_run(champion.pipeline_run_id).info.experiment_id
    (train,) = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{champion.pipeline_run_id}'"
                                  " and tags.step = 'train'")  # fmt: skip
    (logged,) = client.search_logged_models([experiment], filter_string=f"source_run_id = '{train.info.run_id}'")
    assert logged.name == "model"
    version = client.get_model_version(MODEL_NAME, champion.pushed.model_version)
    assert version.tags["logged_model"] == logged.model_id
    listed = json.loads(client.get_logged_model(logged.model_id).tags["mlflow.modelVersions"])
    assert {"name": MODEL_NAME, "version": str(version.version)} in listed
    assert version.source == champion.pushed.store_uri and version.run_id == champion.pipeline_run_id
    # The logged model's files are the store's, and the store's manifest covers them all (MLmodel included).
    logged_files = Path(mlflow.artifacts.download_artifacts(artifact_uri=logged.artifact_location))
    assert storage.dir_checksums(logged_files) == storage.dir_checksums(champion.export_dir)
    storage.verify_dir(version.source, storage.dir_checksums(champion.export_dir))
    assert {"MLmodel", "saved_model.pb", "code/mlflow_model.py"} <= set(storage.dir_checksums(champion.export_dir))


def test_the_signature_lists_the_spec_raw_columns_and_the_example_is_raw_rows(champion: Champion) -> None:
    model = _champion_model(champion)
    inputs = model.metadata.get_input_schema()
    # Every taxi column is never missing: its ints are long (int64), its floats double (float64).
    types = {"float": "double", "int": "long", "string": "string"}
    assert [(spec.name, spec.type.name, spec.required) for spec in inputs.inputs] == [
        (name, types[SPEC.column(name).dtype], True) for name in SPEC.feature_columns
    ]
    assert model.metadata.get_output_schema().input_names() == ["probability"]
    example = json.loads((champion.export_dir / "serving_input_example.json").read_text())["dataframe_split"]
    assert example["columns"] == SPEC.feature_columns
    # No row of missing values: the model refuses a never-missing column without a value.
    typical = example["data"]
    assert len(typical) == 3 and all(value is not None and value == value for row in typical for value in row)
    hours = [row[SPEC.feature_columns.index("hour")] for row in typical]
    assert all(isinstance(hour, int) for hour in hours)
    companies = set(SPEC.column("company").allowed_values)
    assert {row[SPEC.feature_columns.index("company")] for row in typical} <= companies
    distances = [row[SPEC.feature_columns.index("distance")] for row in typical]
    assert distances == sorted(distances) and distances[0] < distances[2]  # the quartiles of the training rows


def test_pyfunc_on_the_champion_answers_raw_rows_as_the_saved_model_does(champion: Champion) -> None:
    rows = champion.eval_rows.head(20).copy()
    answered = _champion_model(champion).predict(rows)
    assert list(answered.columns) == ["probability"] and len(answered) == 20
    expected = saved_model_outputs(champion.export_dir, rows)["probability"]
    np.testing.assert_allclose(answered["probability"].to_numpy(), expected, rtol=1e-6)
    assert answered["probability"].between(0, 1).all()
    # The SavedModel's own signatures refuse what training refuses, as the pyfunc does.
    rows.loc[3, "company"] = "NA"
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"column \\'company\\': expected a value"):
        saved_model_outputs(champion.export_dir, rows)


@pytest.mark.parametrize(
    ("column", "value", "refusal"),
    [
        ("distance", np.nan, "column 'distance': expected a value (max_null_fraction is 0), missing in row(s) 1"),
        ("company", None, "column 'company': expected a value (max_null_fraction is 0), missing in row(s) 1"),
        ("company", "null", "column 'company': expected a value (max_null_fraction is 0), missing in row(s) 1"),
        ("distance", np.inf, "column 'distance': expected a finite number, got inf"),
        ("hour", 14.5, "column hour"),  # MLflow's own check: a long column takes no fraction
    ],
)
def test_a_value_training_refuses_is_refused_naming_the_column(
    champion: Champion, column: str, value: object, refusal: str
) -> None:
    rows = champion.eval_rows.head(3).copy()
    rows[column] = rows[column].astype(object)
    rows.loc[1, column] = value
    with pytest.raises(MlflowException) as refused:
        _champion_model(champion).predict(rows)
    assert refusal in refused.value.message and refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_the_tensorflow_flavor_loads_the_saved_model_itself(champion: Champion) -> None:
    champion.client()
    loaded = mlflow.tensorflow.load_model(f"models:/{MODEL_NAME}@champion")
    assert {"serving_default", "predict_csv"} <= set(loaded.signatures)


def test_a_missing_column_or_text_for_a_number_is_refused_naming_the_column(champion: Champion) -> None:
    model = _champion_model(champion)
    rows = champion.eval_rows.head(2)
    with pytest.raises(MlflowException, match=r"missing inputs \['distance'\]"):
        model.predict(rows.drop(columns=["distance"]))
    with pytest.raises(MlflowException, match="column distance"):
        model.predict(rows.assign(distance=["far", "near"]))
    with pytest.raises(MlflowException, match="column company"):
        model.predict(rows.assign(company=[7, 8]))


def test_the_champion_has_a_tf_serving_copy_and_a_version_that_is_not_promoted_has_none(champion: Champion) -> None:
    serving = champion.store / MODEL_NAME / "serving"
    assert sorted(path.name for path in serving.iterdir()) == [champion.pushed.model_version]
    copy = serving / champion.pushed.model_version
    manifest = (copy / storage.MANIFEST_NAME).read_text()
    assert manifest == (Path(champion.pushed.store_uri.removeprefix("file://")) / storage.MANIFEST_NAME).read_text()
    served = tf.saved_model.load(str(copy)).signatures["serving_default"]
    assert "probability" in served.structured_outputs

    # A push whose gate compared it with a champion that is no longer the champion stays unpromoted.
    client = champion.client()
    run = tracking.start_pipeline_run(champion.tracking_uri, "serving-tests", "job-stale", {"epochs": 1})
    record_gate(champion.tracking_uri, run, "none")
    stale = push_model(champion.export_dir, str(champion.store), MODEL_NAME, champion.tracking_uri, run)
    assert not stale.champion
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == champion.pushed.model_version
    assert sorted(path.name for path in serving.iterdir()) == [champion.pushed.model_version]


def test_a_bare_saved_model_is_refused(champion: Champion, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("saved_model.pb", "variables", "assets", "fingerprint.pb"):
        source = champion.export_dir / name
        if source.is_dir():
            shutil.copytree(source, bare / name)
        elif source.exists():
            (bare / name).write_bytes(source.read_bytes())
    run = tracking.start_pipeline_run(champion.tracking_uri, "serving-tests", "job-bare", {"epochs": 1})
    with pytest.raises(ValueError, match=f"{bare} has no MLmodel: push publishes MLflow models"):
        push_model(bare, str(tmp_path / "store"), "bare-model", champion.tracking_uri, run)


def _train_bundled(dataset: str, root: Path, rows: int) -> tuple[Path, pd.DataFrame]:
    """A 1-epoch model of a bundled dataset, made an MLflow model as the train step makes it (no run needed)."""
    spec = get_spec(dataset)
    data = materialize_dataset(dataset, root / f"{dataset}.csv")
    with data.open() as handle:
        kept = list(csv.reader(handle))[: rows + 1]
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows(kept)
    run_transform(str(data), spec, root / "graph", root / "examples", root / "eval.csv")
    train_model(spec, root / "graph", root / "examples", root / "model", Hyperparameters(epochs=1, hidden_units=(8,)))
    example = input_example.example_rows(spec, None)
    mlflow_model.make_mlflow_model(root / "model", mlflow_model.spec_inputs(spec), example, None, spec.missing_values)
    text = {name: object for name in spec.column_names if spec.column(name).dtype == "string"}
    frame = pd.read_csv(root / "eval.csv", dtype=text)[spec.feature_columns].head(10)
    return root / "model", frame


@pytest.mark.parametrize(("dataset", "rows"), [("penguins", 344), ("ames", 400)])
def test_every_task_type_answers_its_serving_outputs(dataset: str, rows: int, tmp_path: Path) -> None:
    model_dir, frame = _train_bundled(dataset, tmp_path, rows)
    task = task_of(get_spec(dataset))
    answered = mlflow.pyfunc.load_model(str(model_dir)).predict(frame)
    assert sorted(answered.columns) == sorted(task.serving_output_names)
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    feed = {
        name: tf.constant(["" if v is None or v != v else v for v in frame[name]])
        if frame[name].dtype == object
        else tf.constant(frame[name].to_numpy(dtype="float64"), tf.float64)
        for name in serve.structured_input_signature[1]
    }
    for name, value in serve(**feed).items():
        expected = value.numpy()
        got = answered[name].tolist()
        if expected.dtype == object:
            assert got == [item.decode() for item in expected]
        else:
            np.testing.assert_allclose(np.array(got, dtype=np.float64), expected, rtol=1e-6)
    # What evaluate scores of a model, the task reads from these outputs too.
    task.predictions({name: np.array(answered[name].tolist()) for name in answered.columns}, len(frame))
