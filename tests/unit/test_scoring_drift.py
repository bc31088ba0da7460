"""`make monitor` on a scoring output: a real penguins model (test_evaluate_tasks' nearest-centroid SavedModel)
evaluated and pushed as champion into a real SQLite registry, then rows scored by the real score step. Rows
drawn from the training file drift in nothing; the same rows with the bill length moved drift in that input
and in the predictions; an output without its manifest, and one whose input changed since, are refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from test_evaluate_tasks import QUICK_IMPORTANCE, SpeciesModel, _save

from components.common import storage, tracking
from components.common.specs import get_spec
from components.data.baseline import log_training_baseline
from components.data.prediction_baseline import PREDICTION_BASELINE_ARTIFACT
from components.evaluate.task import GateSettings, run_evaluate_step
from components.monitor.scores import run_baseline
from components.monitor.task import MonitorResult, drift_metric_set, run_monitor_step
from components.push.task import push_model
from components.runs.settings import Settings
from components.score.output import UnfinishedOutputError
from components.score.task import run_score_step
from pipelines.datasets import materialize_dataset
from pipelines.monitoring_runner import run_monitoring_locally

pytestmark = [pytest.mark.monitoring, pytest.mark.slow]

PENGUINS = get_spec("penguins")
MODEL = "penguins-scoring-drift"
CLASSES = [f"prediction.{name}" for name in ("Adelie", "Chinstrap", "Gentoo")]


@dataclass(frozen=True)
class World:
    root: Path
    tracking_uri: str
    training_run: str
    unshifted: str  # the output prefixes
    shifted: str
    shifted_input: Path


def _score(world_root: Path, uri: str, frame: pd.DataFrame, name: str) -> str:
    data = world_root / f"{name}.csv"
    frame.to_csv(data, index=False)
    out = world_root / "reports" / name
    result = run_score_step(
        str(data), "penguins", MODEL, "", str(world_root / "scores"), uri, "", f"score-{name}",
        out / "validation.html", out / "validation.json",
    )  # fmt: skip
    assert result.rows_rejected == 0 and result.rows_scored == len(frame)
    return result.output_prefix


@pytest.fixture(scope="module")
def world(tmp_path_factory, _empty_mlflow_db) -> World:
    root = tmp_path_factory.mktemp("scoring-drift")
    shutil.copyfile(_empty_mlflow_db, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    training = materialize_dataset("penguins", root / "penguins.csv")
    run_id = tracking.start_pipeline_run(uri, "penguins-training", "job-drift", {})
    log_training_baseline(training, PENGUINS, str(training), uri, run_id)
    model = _save(SpeciesModel(1.0), root / "model")
    settings = GateSettings(PENGUINS.thresholds, baseline_margin=PENGUINS.baseline_margin)
    evaluated = run_evaluate_step(
        model, training, "penguins", uri, run_id, MODEL, settings, root / "eval", "", QUICK_IMPORTANCE
    )
    assert evaluated.decision.blessed, evaluated.decision.reasons
    push_model(model, str(root / "store"), MODEL, uri, run_id, force_push=True)
    # New rows like the training rows (a resample of them, without the label), and the same rows 7 mm longer.
    rows = pd.read_csv(training).drop(columns=["species"]).sample(n=300, replace=True, random_state=7)
    shifted = rows.assign(bill_length_mm=rows["bill_length_mm"] + 7.0)
    return World(
        root, uri, run_id, _score(root, uri, rows, "unshifted"), _score(root, uri, shifted, "shifted"),
        root / "shifted.csv",
    )  # fmt: skip


def _monitor(world: World, data_uri: str, name: str) -> MonitorResult:
    out = world.root / "monitor" / name
    return run_monitor_step(
        data_uri, "", world.tracking_uri, MODEL, "", f"monitor-{name}", False, out / "report.html", out / "summary.json"
    )


def test_evaluate_saves_the_predictions_baseline_beside_the_training_baseline(world, tmp_path):
    saved = run_baseline(world.tracking_uri, world.training_run, PREDICTION_BASELINE_ARTIFACT, "the run", tmp_path)
    assert [column.name for column in saved.columns] == CLASSES
    assert {(column.kind, column.role) for column in saved.columns} == {("numeric", "prediction")}
    assert saved.row_count == 344 and saved.dataset == "penguins"


def test_unshifted_scored_rows_drift_in_nothing_and_both_kinds_are_checked(world):
    result = _monitor(world, world.unshifted, "unshifted")
    report = result.report
    assert not report.drifted, report.verdict()
    roles = {feature.name: feature.role for feature in report.features}
    assert {name for name, role in roles.items() if role == "prediction"} == set(CLASSES)
    assert {"bill_length_mm", "bill_depth_mm", "island"} <= {name for name, role in roles.items() if role == "feature"}
    assert report.rows == 300 and f"{MODEL} version 1" in report.data_source
    assert report.verdict().endswith("verdict: no drift")


def test_a_shifted_input_column_drifts_and_so_do_the_predictions(world):
    result = _monitor(world, world.shifted, "shifted")
    report = result.report
    drifted = set(report.drifted_features)
    assert "bill_length_mm" in drifted and "bill_depth_mm" not in drifted, report.verdict()
    moved = drifted - {"bill_length_mm"}
    assert moved and moved <= set(CLASSES), report.verdict()
    assert "prediction.Adelie" in moved  # a longer bill is less like an Adelie's
    summary = json.loads((world.root / "monitor" / "shifted" / "summary.json").read_text())
    assert summary["drifted"] and "prediction.Adelie" in summary["verdict"]
    logged = tracking.client(world.tracking_uri).get_run(result.mlflow_run_id).data.metrics
    assert logged["drifted"] == 1.0 and logged["drifted_features"] == len(drifted)
    # Pushed like any feature's drift: the prediction is the `feature` label DataDriftDetected alerts on.
    pushed = {
        (sample.name, sample.labels.get("feature")): sample.value
        for family in drift_metric_set(report, "run").registry.collect()
        for sample in family.samples
    }
    assert pushed[("tabular_mlops_drift_feature_detected", "prediction.Adelie")] == 1.0
    assert pushed[("tabular_mlops_drift_feature_detected", "bill_depth_mm")] == 0.0


def test_an_output_without_its_manifest_is_refused_naming_it(world):
    partial = world.root / "partial"
    shutil.copytree(world.unshifted, partial)
    (partial / storage.MANIFEST_NAME).unlink()
    with pytest.raises(UnfinishedOutputError, match=rf"{partial}: no {storage.MANIFEST_NAME}"):
        _monitor(world, str(partial), "partial")


def test_a_retrain_on_a_scoring_output_needs_its_own_training_data(world):
    settings = Settings.from_env({"DATASET": "penguins", "DATA_URI": world.unshifted, "MODEL_NAME": MODEL})
    with pytest.raises(ValueError, match=r"is a scoring output, which a retrain cannot train on; set TRAIN_DATA_URI"):
        run_monitoring_locally(settings, "", True, None, world.root / "never")
    assert not (world.root / "never").exists()


def test_an_output_whose_input_changed_since_it_was_scored_is_refused(world):
    frame = pd.read_csv(world.shifted_input)
    frame.iloc[:10].to_csv(world.shifted_input, index=False)
    with pytest.raises(ValueError, match=r"shifted\.csv changed since it was scored .*score it again"):
        _monitor(world, world.shifted, "changed")
