"""Shared by the variant tests: a tiny real model of each task type (binary taxi, multiclass penguins,
regression ames), transformed and trained by the real steps (2 epochs, a few hundred rows) and exported
as the train step exports it (an MLflow model). No tests here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.train.hyperparameters import Hyperparameters
from components.train.mlflow_model import make_mlflow_model, spec_inputs
from components.train.task import train_model
from components.transform.task import run_transform
from components.variants.base import Candidate
from pipelines.datasets import materialize_dataset

ROWS = {"modeldata_taxi": 500, "penguins": 344, "ames": 600}
HYPERPARAMETERS = Hyperparameters(epochs=3, batch_size=32, hidden_units=(16,), learning_rate=0.01)


@dataclass(frozen=True)
class Trained:
    spec: DatasetSpec
    candidate: Candidate
    eval_file: Path


def eval_frame(trained: Trained, rows: int | None = None) -> pd.DataFrame:
    """The eval split's raw feature columns as a client sends them (text as text, missing as None/NaN)."""
    spec = trained.spec
    text = {name: object for name in spec.column_names if spec.column(name).dtype == "string"}
    frame = pd.read_csv(trained.eval_file, dtype=text, keep_default_na=False, na_values=[""])
    frame = frame[spec.feature_columns].head(rows)
    for name in spec.feature_columns:
        if spec.column(name).dtype == "string":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def train_tiny(dataset: str, root: Path) -> Trained:
    spec = get_spec(dataset)
    data = materialize_dataset(dataset, root / f"{dataset}.csv")
    lines = data.read_text().splitlines(keepends=True)[: ROWS[dataset] + 1]
    data.write_text("".join(lines))
    run_transform(str(data), spec, root / "graph", root / "examples", root / "eval.csv")
    train_model(spec, root / "graph", root / "examples", root / "model", HYPERPARAMETERS)
    make_mlflow_model(root / "model", spec_inputs(spec), None, missing_values=spec.missing_values)
    candidate = Candidate(spec, root / "model", root / "graph", root / "examples")
    return Trained(spec, candidate, root / "eval.csv")


# ames' variants (its 73 columns: a 9.6 MB SavedModel saved and converted per kind) take 20 minutes of one
# test process here; they run with the full-scale acceptance runs (`make test-acceptance`).
DATASETS = [pytest.param(name, marks=pytest.mark.acceptance) if name == "ames" else name for name in sorted(ROWS)]


@pytest.fixture(scope="session", params=DATASETS, name="trained")
def trained_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_tiny(request.param, tmp_path_factory.mktemp(f"variants-{request.param}"))
