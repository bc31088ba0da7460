"""The evaluate step: metrics with known answers, the gate, and a real run on SavedModels and SQLite MLflow."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from kfp import dsl

from components.common import tracking
from components.common.raw_tensors import parse_csv_rows
from components.common.specs.modeldata_taxi import SPEC
from components.evaluate import component
from components.evaluate.metrics import (
    MAX_ROC_POINTS,
    BinaryMetrics,
    Thresholds,
    binary_metrics,
    calibration,
    gate,
    thinned_roc_curve,
)
from components.evaluate.task import mlflow_metric_name, run_evaluate_step

LENIENT = Thresholds(min_roc_auc=0.6, min_accuracy=0.6, max_log_loss=0.8)


# --- metrics on hand-made arrays --------------------------------------------------------------


def test_perfect_separation_has_auc_one_and_full_accuracy():
    result = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert result.roc_auc == 1.0
    assert result.accuracy == result.precision == result.recall == 1.0
    assert result.confusion_matrix == [[2, 0], [0, 2]]
    assert result.roc.fpr[0] == 0.0 and result.roc.tpr[-1] == 1.0


def test_known_confusion_matrix_precision_and_recall():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    probabilities = np.array([0.9, 0.7, 0.2, 0.6, 0.1, 0.3, 0.4, 0.8])
    result = binary_metrics(labels, probabilities)
    # true 1 -> predicted [1, 1, 0, 1]; true 0 -> predicted [1, 0, 0, 0]
    assert result.confusion_matrix == [[3, 1], [1, 3]]
    assert result.accuracy == pytest.approx(6 / 8)
    assert result.precision == pytest.approx(3 / 4)
    assert result.recall == pytest.approx(3 / 4)
    assert result.example_count == 8 and result.positive_rate == 0.5


def test_constant_half_has_log_loss_ln2_and_auc_half():
    result = binary_metrics(np.array([0, 1, 0, 1, 1]), np.full(5, 0.5))
    assert result.log_loss == pytest.approx(math.log(2))
    assert result.roc_auc == pytest.approx(0.5)


def test_single_class_leaves_auc_and_roc_undefined_without_crashing():
    result = binary_metrics(np.ones(40, dtype=int), np.linspace(0.05, 0.95, 40))
    assert result.roc_auc is None and result.roc is None
    assert "roc_auc" not in result.headline()
    assert result.accuracy == pytest.approx(np.mean(np.linspace(0.05, 0.95, 40) >= 0.5))
    assert result.precision == 1.0
    assert result.confusion_matrix[0] == [0, 0]


def test_expected_calibration_error_by_hand():
    # Bin [0.2, 0.3): predicted 0.2, observed 0.5 -> gap 0.3 on half the rows.
    # Bin [0.8, 0.9): predicted 0.8, observed 1.0 -> gap 0.2 on the other half.
    labels = np.array([0, 1, 1, 1])
    probabilities = np.array([0.2, 0.2, 0.8, 0.8])
    result = calibration(labels, probabilities)
    assert result.expected_calibration_error == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    assert result.bin_predicted == pytest.approx([0.2, 0.8])
    assert result.bin_observed == pytest.approx([0.5, 1.0])
    assert result.bin_count == [2, 2]
    assert result.mean_predicted == pytest.approx(0.5) and result.observed_rate == pytest.approx(0.75)


def test_perfectly_calibrated_probabilities_have_zero_ece():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    probabilities = np.full(10, 0.4)
    assert calibration(labels, probabilities).expected_calibration_error == pytest.approx(0.0)


def test_roc_curve_is_thinned_and_finite():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000)
    probabilities = np.clip(labels * 0.2 + rng.random(5000) * 0.8, 0, 1)
    curve = thinned_roc_curve(labels, probabilities)
    assert 2 < len(curve.fpr) <= MAX_ROC_POINTS
    assert len(curve.fpr) == len(curve.tpr) == len(curve.thresholds)
    assert (curve.fpr[0], curve.tpr[0]) == (0.0, 0.0) and (curve.fpr[-1], curve.tpr[-1]) == (1.0, 1.0)
    assert all(math.isfinite(t) and t <= 1.0 for t in curve.thresholds)


def test_metric_names_are_made_mlflow_safe():
    assert mlflow_metric_name("slice.company=Flash Cab.roc_auc") == "slice.company_Flash Cab.roc_auc"
    assert mlflow_metric_name("slice.company=a/b(c).accuracy") == "slice.company_a_b_c_.accuracy"


# --- the gate ---------------------------------------------------------------------------------


def _scored(quality: str) -> BinaryMetrics:
    """Two hand-made score sets on the same labels: 'good' separates perfectly, 'fair' does not."""
    labels = np.array([0] * 10 + [1] * 10)
    good = np.r_[np.linspace(0.05, 0.4, 10), np.linspace(0.6, 0.95, 10)]
    fair = np.r_[np.linspace(0.1, 0.6, 10), np.linspace(0.4, 0.9, 10)]
    return binary_metrics(labels, good if quality == "good" else fair)


def test_gate_fails_on_each_absolute_threshold():
    candidate = _scored("fair")
    decision = gate(candidate, Thresholds(min_roc_auc=0.99, min_accuracy=0.99, max_log_loss=0.01), 0.01)
    assert not decision.blessed
    assert [reason.split(":")[0] for reason in decision.reasons] == ["FAIL", "FAIL", "FAIL"]
    assert "min_roc_auc" in decision.reasons[0] and "0.9900" in decision.reasons[0]


def test_gate_without_champion_decides_on_thresholds_alone():
    decision = gate(_scored("fair"), LENIENT, 0.01, notes=("no champion",))
    assert decision.blessed
    assert decision.reasons[0] == "no champion"
    assert len(decision.reasons) == 4 and all(r.startswith("PASS") for r in decision.reasons[1:])


def test_gate_rejects_candidate_worse_than_champion_by_more_than_tolerance():
    decision = gate(_scored("fair"), LENIENT, 0.01, champion=_scored("good"))
    assert not decision.blessed
    assert any(r.startswith("FAIL") and "champion roc_auc" in r for r in decision.reasons)


def test_gate_blesses_candidate_within_tolerance_of_champion():
    champion = _scored("fair")
    candidate = binary_metrics(
        np.array([0] * 10 + [1] * 10), np.r_[np.linspace(0.1, 0.6, 10), np.linspace(0.4, 0.9, 10)] * 0.999
    )
    assert candidate.log_loss > champion.log_loss  # slightly worse, but within tolerance
    decision = gate(candidate, LENIENT, 0.01, champion=champion)
    assert decision.blessed
    assert sum("champion" in r for r in decision.reasons) == 2


# --- the step end to end: real SavedModels, real SQLite MLflow --------------------------------


class TipModel(tf.Module):
    """A raw-in serving model like the trainer's exports, with a hand-set logit:
    scale * (distance - 5) + hour_weight * (hour - 12) + flash_cab_bonus * [company == "Flash Cab"].
    """

    def __init__(self, scale: float, hour_weight: float, flash_cab_bonus: float):
        super().__init__()
        self.scale = tf.constant(scale, tf.float64)
        self.hour_weight = tf.constant(hour_weight, tf.float64)
        self.flash_cab_bonus = tf.constant(flash_cab_bonus, tf.float64)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="csv_rows")])
    def predict_csv(self, csv_rows):
        dense = parse_csv_rows(csv_rows, SPEC)
        flash_cab = tf.cast(tf.equal(dense["company"], "Flash Cab"), tf.float64)
        logit = (
            self.scale * (dense["distance"] - 5.0)
            + self.hour_weight * (dense["hour"] - 12.0)
            + self.flash_cab_bonus * flash_cab
        )
        return {"probability": tf.cast(tf.sigmoid(logit), tf.float32)}


def _save_model(directory: Path, **logit: float) -> Path:
    module = TipModel(**logit)
    tf.saved_model.save(module, str(directory), signatures={"predict_csv": module.predict_csv})
    return directory


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The champion knows Flash Cab riders always tip and ignores the hour; the candidate does neither."""
    root = tmp_path_factory.mktemp("models")
    return {
        "candidate": _save_model(root / "candidate", scale=1.0, hour_weight=0.1, flash_cab_bonus=0.0),
        "champion": _save_model(root / "champion", scale=1.0, hour_weight=0.0, flash_cab_bonus=10.0),
    }


@pytest.fixture(scope="module")
def eval_csv(tmp_path_factory) -> Path:
    """Tips follow distance > 5 (10% flipped). Flash Cab (40 rows) always tips; Sun Taxi has 10 rows."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(150):
        company = "Flash Cab" if i < 40 else ("Sun Taxi" if i < 50 else "City Service")
        distance = round(float(rng.uniform(0, 10)), 2)
        tip = distance > 5 if rng.random() > 0.1 else distance <= 5
        if company == "Flash Cab":
            tip = True
        local = "yes" if i % 2 else "no"
        rows.append(f"{'yes' if tip else 'no'},{distance},{company},{local},Mon,Mar,{int(rng.integers(0, 24))}")
    path = tmp_path_factory.mktemp("eval") / "eval.csv"
    path.write_text(",".join(SPEC.column_names) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    """One SQLite store for the module (creating its tables takes seconds); tests use their own runs and model names."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture
def mlflow_store(tracking_uri, request) -> tuple[str, str, str]:
    """A fresh pipeline run, and a model name of the test's own so that champions do not leak between tests."""
    run_id = tracking.start_pipeline_run(
        tracking_uri, "evaluate-test", request.node.name, params={"dataset": "modeldata_taxi"}
    )
    return tracking_uri, run_id, f"taxi-{request.node.name}"


def _evaluate(models, eval_csv, mlflow_store, tmp_path, thresholds=LENIENT):
    uri, run_id, model_name = mlflow_store
    return run_evaluate_step(
        model_dir=models["candidate"],
        eval_data_path=eval_csv,
        dataset="modeldata_taxi",
        tracking_uri=uri,
        pipeline_run_id=run_id,
        model_name=model_name,
        thresholds=thresholds,
        tolerance=0.01,
        output_dir=tmp_path / "out",
    )


def _register_champion(mlflow_store: tuple[str, str, str], store_uri: str) -> None:
    uri, _, model_name = mlflow_store
    client = tracking.client(uri)
    client.create_registered_model(model_name)
    version = client.create_model_version(model_name, source=store_uri, tags={"store_uri": store_uri})
    client.set_registered_model_alias(model_name, "champion", version.version)


def test_step_without_champion_blesses_and_logs_everything(models, eval_csv, mlflow_store, tmp_path):
    uri, run_id, _ = mlflow_store
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path)

    assert result.decision.blessed, result.decision.reasons
    assert result.champion_metrics is None
    assert result.decision.reasons[0].startswith("no champion")
    assert result.metrics.example_count == 150
    assert result.metrics.roc_auc > 0.8
    # Slices: Flash Cab only tips (AUC undefined), Sun Taxi is too small to measure.
    assert result.slices["company=Flash Cab"].roc_auc is None
    assert result.skipped_slices == {"company=Sun Taxi": 10}
    assert set(result.slices) == {"company=Flash Cab", "company=City Service", "local=no", "local=yes"}

    client = tracking.client(uri)
    step = client.get_run(result.step_run_id)
    assert step.data.tags["mlflow.parentRunId"] == run_id
    headline = result.metrics.headline()
    for name in ("roc_auc", "accuracy", "precision", "recall", "log_loss", "expected_calibration_error"):
        assert step.data.metrics[name] == pytest.approx(headline[name])
    assert step.data.metrics["example_count"] == 150
    assert step.data.metrics["blessed"] == 1.0
    assert "slice.company_City Service.roc_auc" in step.data.metrics
    assert "slice.company_Flash Cab.roc_auc" not in step.data.metrics
    assert step.data.metrics["slice.company_Flash Cab.accuracy"] == result.slices["company=Flash Cab"].accuracy
    assert "champion_roc_auc" not in step.data.metrics
    artifacts = {a.path for a in client.list_artifacts(result.step_run_id, "evaluation")}
    assert artifacts == {
        f"evaluation/{n}" for n in ("roc_curve.png", "confusion_matrix.png", "calibration.png", "metrics.json")
    }
    for plot in result.plots.values():
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads(result.metrics_file.read_text())
    assert written["blessed"] is True and written["metrics"]["roc_auc"] == result.metrics.roc_auc

    parent = client.get_run(run_id)
    assert parent.data.metrics["roc_auc"] == pytest.approx(result.metrics.roc_auc)
    assert parent.data.metrics["blessed"] == 1.0
    assert parent.info.status == "RUNNING"  # blessed: push comes next and finishes the run


def test_step_failing_thresholds_finishes_the_pipeline_run(models, eval_csv, mlflow_store, tmp_path):
    uri, run_id, _ = mlflow_store
    strict = Thresholds(min_roc_auc=0.99, min_accuracy=0.6, max_log_loss=0.8)
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path, thresholds=strict)
    assert not result.decision.blessed
    assert any(r.startswith("FAIL: roc_auc") and "min_roc_auc" in r for r in result.decision.reasons)
    parent = tracking.client(uri).get_run(run_id)
    assert parent.data.metrics["blessed"] == 0.0
    assert parent.info.status == "FINISHED"


def test_step_with_better_champion_does_not_bless(models, eval_csv, mlflow_store, tmp_path):
    uri, run_id, _ = mlflow_store
    _register_champion(mlflow_store, str(models["champion"]))
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path)

    assert result.champion_version == "1"
    assert result.champion_metrics.roc_auc > result.metrics.roc_auc + 0.01
    assert not result.decision.blessed
    assert any(r.startswith("FAIL") and "champion roc_auc" in r for r in result.decision.reasons)
    step = tracking.client(uri).get_run(result.step_run_id)
    assert step.data.metrics["champion_roc_auc"] == pytest.approx(result.champion_metrics.roc_auc)
    assert tracking.client(uri).get_run(run_id).info.status == "FINISHED"


def test_step_with_unloadable_champion_falls_back_to_thresholds(models, eval_csv, mlflow_store, tmp_path):
    empty = tmp_path / "empty-store"
    empty.mkdir()
    _register_champion(mlflow_store, str(empty))
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path)
    assert result.champion_metrics is None
    assert result.decision.blessed
    assert "could not be scored" in result.decision.reasons[0]


def test_kfp_component_fills_its_outputs(models, eval_csv, mlflow_store, tmp_path):
    uri, run_id, model_name = mlflow_store
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    classification = dsl.ClassificationMetrics(uri=str(tmp_path / "classification"))
    report = dsl.HTML(uri=str(tmp_path / "report.html"))
    blessed = component.evaluate.python_func(
        model=dsl.Model(uri=str(models["candidate"])),
        eval_data=dsl.Dataset(uri=str(eval_csv)),
        dataset="modeldata_taxi",
        model_name=model_name,
        mlflow_tracking_uri=uri,
        mlflow_run_id=run_id,
        min_roc_auc=0.6,
        min_accuracy=0.6,
        max_log_loss=0.8,
        champion_tolerance=0.01,
        metrics=metrics,
        classification_metrics=classification,
        report=report,
    )
    assert blessed is True
    logged_on_pipeline_run = tracking.client(uri).get_run(run_id).data.metrics
    assert metrics.metadata["roc_auc"] == pytest.approx(logged_on_pipeline_run["roc_auc"])
    assert metrics.metadata["blessed"] == 1.0
    points = classification.metadata["confidenceMetrics"]
    assert 2 < len(points) <= MAX_ROC_POINTS and all(math.isfinite(p["confidenceThreshold"]) for p in points)
    assert len(classification.metadata["confusionMatrix"]["rows"]) == 2
    page = Path(report.path).read_text()
    assert "evaluation: BLESSED" in page and page.count("data:image/png;base64,") == 3
