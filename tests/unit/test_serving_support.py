"""Shared by the serving tests: the default dataset's model, trained by the real train step (1 epoch, 400
rows) into a real SQLite MLflow store and pushed to a local store as champion version 1.

Validate's part is played by its baseline alone (the input example is made from it). No tests here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from components.common import tracking
from components.common.specs import get_spec
from components.data.baseline import log_training_baseline
from components.push.task import PushResult, push_model
from components.train.hyperparameters import Hyperparameters
from components.train.step import run_train_step
from components.transform.task import run_transform

DATASET = "modeldata_taxi"
SPEC = get_spec(DATASET)
MODEL_NAME = "taxi-serving"
ROWS = 400


@dataclass(frozen=True)
class Champion:
    tracking_uri: str
    pipeline_run_id: str
    export_dir: Path
    store: Path
    pushed: PushResult
    eval_rows: pd.DataFrame  # the eval split's raw feature columns, numbers as float64

    def client(self):
        return tracking.client(self.tracking_uri)


def raw_rows(csv: Path) -> pd.DataFrame:
    """Raw feature columns of a CSV as a serving client sends them: text as text, numbers as the spec types
    them (an int column as int64, a float one as float64: every taxi column is never missing)."""
    text = {name: object for name in SPEC.column_names if SPEC.column(name).dtype == "string"}
    frame = pd.read_csv(csv, dtype=text)[SPEC.feature_columns]
    for name in SPEC.feature_columns:
        if SPEC.column(name).dtype == "string":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        else:
            frame[name] = frame[name].astype("int64" if SPEC.column(name).dtype == "int" else "float64")
    return frame


def saved_model_outputs(model_dir: Path, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """What the SavedModel's own serving_default answers for these raw rows."""
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    feed = {}
    for name in SPEC.feature_columns:
        if SPEC.column(name).dtype == "string":
            feed[name] = tf.constant(["" if value is None else value for value in frame[name]])
        else:
            feed[name] = tf.constant(frame[name].to_numpy(dtype="float64", na_value=np.nan), tf.float64)
    return {name: value.numpy() for name, value in serve(**feed).items()}


@pytest.fixture(scope="session", name="champion")
def champion_fixture(
    tmp_path_factory: pytest.TempPathFactory, _empty_mlflow_db: Path, bundled_dataset: Path
) -> Champion:
    root = tmp_path_factory.mktemp("serving")
    shutil.copyfile(_empty_mlflow_db, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    data = root / "taxi.csv"
    data.write_text("".join(bundled_dataset.read_text().splitlines(keepends=True)[: ROWS + 1]))
    run_id = tracking.start_pipeline_run(uri, "serving-tests", "job-serving", {"epochs": 1})
    log_training_baseline(data, SPEC, str(data), uri, run_id)
    run_transform(str(data), SPEC, root / "graph", root / "examples", root / "eval.csv")
    hyperparameters = Hyperparameters(epochs=1, batch_size=64, hidden_units=(8,))
    run_train_step(DATASET, root / "graph", root / "examples", root / "model", hyperparameters, uri, run_id)
    pushed = push_model(root / "model", str(root / "store"), MODEL_NAME, uri, run_id, force_push=True)  # no gate
    return Champion(uri, run_id, root / "model", root / "store", pushed, raw_rows(root / "eval.csv"))
