"""Every task through the same pipeline under kfp.local, on bundled data: multiclass (penguins) and
regression (ames), each registering a champion whose pushed SavedModel answers raw rows with the task's
output; then a user's own builder, named by dotted path, trained on penguins against that champion.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from e2e_support import Workspace

from components.common import tracking
from pipelines.arguments import Overrides
from pipelines.datasets import materialize_dataset
from pipelines.local_runner import run_locally
from pipelines.summary import RunSummary

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent


def _workspace(tmp_path_factory, dataset: str) -> Workspace:
    root = tmp_path_factory.mktemp(dataset)
    return Workspace(root, dataset, materialize_dataset(dataset, root / "data" / f"{dataset}.csv"))


def _serve_rows(model_dir: str, data: Path, count: int) -> tuple[dict, list[dict[str, str]]]:
    """The pushed SavedModel, loaded alone, fed `count` raw data rows through its CSV signature."""
    import tensorflow as tf

    with data.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    lines = [line for line in data.read_text().splitlines()[1 : count + 1]]
    model = tf.saved_model.load(model_dir)
    outputs = model.signatures["predict_csv"](csv_rows=tf.constant(lines))
    return {name: value.numpy() for name, value in outputs.items()}, rows


@pytest.fixture(scope="module")
def penguins(penguins_champion) -> Workspace:
    return penguins_champion[0]  # tests/e2e/conftest.py: shared with test_scoring


@pytest.fixture(scope="module")
def penguins_run(penguins_champion) -> RunSummary:
    return penguins_champion[1]


def test_a_multiclass_run_registers_a_champion_that_names_the_species(penguins_run, penguins):
    assert penguins_run.blessed and penguins_run.model_version, penguins_run.gate_reasons
    assert penguins_run.metrics["accuracy"] >= 0.9 and penguins_run.metrics["log_loss"] <= 0.4
    assert set(penguins_run.metrics) >= {"accuracy", "log_loss", "macro_f1", "weighted_f1"}
    assert any(line.startswith("PASS: log_loss") and "class-frequency" in line for line in penguins_run.gate_reasons)
    outputs, rows = _serve_rows(penguins_run.store_uri.removeprefix("file://"), penguins.data, 40)
    assert outputs["probabilities"].shape == (40, 3)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    named = [value.decode() for value in outputs["class"]]
    assert set(named) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert np.mean([name == row["species"] for name, row in zip(named, rows)]) >= 0.9


def test_a_users_builder_by_dotted_path_trains_and_is_recorded(penguins_run, penguins, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    workspace = penguins.copied_to(tmp_path / "workspace")  # a version it registers leaves the shared champion be
    second = run_locally(workspace.settings(), Overrides(epochs=25, model_builder="user_builders:residual_tower"))
    client = tracking.client(workspace.settings().mlflow_tracking_uri)
    train = client.search_runs(
        [client.get_run(second.mlflow_run_id).info.experiment_id],
        f"tags.mlflow.parentRunId = '{second.mlflow_run_id}' and tags.step = 'train'",
    )[0]
    assert train.data.params["model_builder"] == "user_builders:residual_tower"
    assert train.data.params["task"] == "multiclass"
    # It is gated against the first run's champion on the same rows, for multiclass too.
    assert any(f"champion version {penguins_run.model_version}" in line for line in second.gate_reasons)
    assert second.metrics["accuracy"] >= 0.85, second.gate_reasons


def test_a_regression_run_registers_a_champion_that_prices_houses(tmp_path_factory):
    ames = _workspace(tmp_path_factory, "ames")
    run = run_locally(ames.settings(), Overrides(epochs=10, thresholds={"r2": 0.7}))
    assert run.blessed and run.model_version, run.gate_reasons
    assert run.metrics["r2"] >= 0.7 and set(run.metrics) >= {"rmse", "mae", "r2"}
    assert any(line.startswith("PASS: rmse") and "mean predictor" in line for line in run.gate_reasons)
    outputs, rows = _serve_rows(run.store_uri.removeprefix("file://"), ames.data, 200)
    prices = np.array([float(row["Sale_Price"]) for row in rows])
    predicted = outputs["prediction"]
    assert predicted.shape == (200,) and np.all(predicted > 0)
    # On the original scale: within a factor of 1.5 of the sale price for most houses.
    assert np.mean(np.abs(np.log(predicted / prices)) < np.log(1.5)) >= 0.8
