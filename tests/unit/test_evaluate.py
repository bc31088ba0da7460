"""The evaluate step: metrics with known answers, the gate, and a real run on SavedModels and SQLite MLflow."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from kfp import dsl

from components.common import tracking
from components.common.specs import get_spec
from components.common.specs.base import SliceGate
from components.common.specs.modeldata_taxi import SPEC
from components.data.raw_tensors import parse_csv_rows
from components.evaluate import component
from components.evaluate.gate import ChampionScore, gate
from components.evaluate.importance import ImportanceSettings, _interval, permutation_importance
from components.evaluate.report import html_report
from components.evaluate.scoring import load_scorer
from components.evaluate.slices import slice_gaps, slice_metrics
from components.evaluate.task import GateSettings, mlflow_metric_name, run_evaluate_step
from components.push.task import push_model
from components.tasks import task_of
from components.tasks.binary_metrics import (
    MAX_ROC_POINTS,
    BinaryMetrics,
    binary_metrics,
    calibration,
    thinned_roc_curve,
)
from components.train.mlflow_model import make_mlflow_model, saved_model_inputs
from pipelines.datasets import bundled_datasets, materialize_dataset

LENIENT = {"roc_auc": 0.6, "accuracy": 0.6, "log_loss": 0.8}
BINARY = task_of(SPEC)


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


def _prior(labels: np.ndarray) -> BinaryMetrics:
    return BINARY.metrics(labels, BINARY.prior_predictions(labels))


LABELS = np.array([0] * 10 + [1] * 10)
PRIOR = _prior(LABELS)
NO_CHAMPION = ChampionScore(version=None, note="no champion")
OFF: dict[str, float] = {}


def _scored(quality: str) -> BinaryMetrics:
    """Two hand-made score sets on the same labels: 'good' separates perfectly, 'fair' does not."""
    good = np.r_[np.linspace(0.05, 0.4, 10), np.linspace(0.6, 0.95, 10)]
    fair = np.r_[np.linspace(0.1, 0.6, 10), np.linspace(0.4, 0.9, 10)]
    return binary_metrics(LABELS, good if quality == "good" else fair)


def _gate(candidate, thresholds=LENIENT, champion=NO_CHAMPION, **options):
    return gate(BINARY, candidate, thresholds, 0.01, PRIOR, 0.02, champion, **options)


def test_gate_fails_on_each_absolute_threshold():
    decision = _gate(_scored("fair"), {"roc_auc": 0.99, "accuracy": 0.99, "log_loss": 0.01})
    assert not decision.blessed
    verdicts = [reason.split(":")[0] for reason in decision.reasons[1:]]
    assert verdicts == ["FAIL", "FAIL", "FAIL", "PASS", "PASS", "INFO"]
    assert decision.reasons[1].startswith("FAIL: roc_auc") and decision.reasons[1].endswith(">= 0.9900 (threshold)")
    assert decision.reasons[3].endswith("<= 0.0100 (threshold)")  # log loss is bounded from above


def test_gate_without_champion_decides_on_thresholds_and_the_prior():
    decision = _gate(_scored("fair"))
    assert decision.blessed
    assert decision.reasons[0] == "no champion"
    assert [r.split(":")[0] for r in decision.reasons[1:]] == ["PASS"] * 5 + ["INFO"]
    assert any("base-rate log loss 0.6931" in r for r in decision.reasons)


def test_prior_of_labels_by_hand():
    prior = _prior(np.array([1, 1, 1, 0]))
    assert prior.positive_rate == 0.75 and prior.accuracy == 0.75 and prior.roc_auc == 0.5
    assert prior.log_loss == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_the_base_rate_predictor_is_never_blessed_even_with_every_bound_off():
    labels = np.array([1] * 92 + [0] * 8)
    prior = _prior(labels)
    always_tips = binary_metrics(labels, np.full(100, prior.positive_rate))
    decision = gate(BINARY, always_tips, OFF, 0.01, prior, 0.02, NO_CHAMPION)
    assert not decision.blessed
    assert not any("(threshold)" in r for r in decision.reasons)  # no metric is bounded
    assert [r.split(":")[0] for r in decision.reasons[1:3]] == ["FAIL", "FAIL"]


def test_scores_that_ignore_the_label_fail_the_prior_rule():
    rng = np.random.default_rng(3)
    labels = rng.permutation(np.array([1] * 900 + [0] * 100))
    prior = _prior(labels)
    noise = binary_metrics(labels, np.clip(prior.positive_rate + rng.normal(0, 0.05, labels.size), 0, 1))
    assert not gate(BINARY, noise, OFF, 0.01, prior, 0.02, NO_CHAMPION).blessed


def test_prior_names_the_bounds_it_meets_itself():
    prior = _prior(np.array([1] * 92 + [0] * 8))
    met = BINARY.bounds_met_by_prior({"roc_auc": 0.56, "accuracy": 0.9, "log_loss": 0.3}, prior)
    assert len(met) == 2 and "accuracy >= 0.9" in met[0] and "log_loss <= 0.3" in met[1]
    assert met[0] == "accuracy >= 0.9 is met by the base rate (0.9200)"
    assert BINARY.bounds_met_by_prior({"roc_auc": 0.56, "log_loss": 0.25}, prior) == []


def test_gate_rejects_candidate_worse_than_champion_by_more_than_tolerance():
    decision = _gate(_scored("fair"), champion=ChampionScore("3", metrics=_scored("good")))
    assert not decision.blessed
    assert any(r.startswith("FAIL") and "champion version 3 roc_auc" in r for r in decision.reasons)


def test_gate_blesses_candidate_within_tolerance_of_champion():
    champion = _scored("fair")
    candidate = binary_metrics(LABELS, np.r_[np.linspace(0.1, 0.6, 10), np.linspace(0.4, 0.9, 10)] * 0.999)
    assert candidate.log_loss > champion.log_loss  # slightly worse, but within tolerance
    decision = _gate(candidate, champion=ChampionScore("3", metrics=champion))
    assert decision.blessed
    assert sum("champion version 3" in r for r in decision.reasons) == 2


def test_a_champion_that_could_not_be_scored_fails_the_gate_naming_it():
    unscored = ChampionScore("7", problem="champion 'm' version 7 at s3://b/m/x: StorageError: no such directory")
    decision = _gate(_scored("good"), champion=unscored)
    assert not decision.blessed
    [failure] = [r for r in decision.reasons if r.startswith("FAIL")]
    assert "champion version 7 could not be scored" in failure and "StorageError: no such directory" in failure


def test_allow_unscored_champion_waives_that_one_check_and_says_so():
    unscored = ChampionScore("7", problem="UnscorableModelError: its signature needs column(s) ['fare']")
    decision = _gate(_scored("good"), champion=unscored, allow_unscored_champion=True)
    assert decision.blessed
    assert any(r.startswith("WAIVED: champion version 7") and "['fare']" in r for r in decision.reasons)
    assert not _gate(_scored("fair"), OFF, champion=unscored, allow_unscored_champion=True).reasons[0].startswith("F")


@pytest.mark.parametrize("dataset", bundled_datasets())
def test_no_bundled_spec_has_default_bounds_the_base_rate_predictor_meets(dataset, tmp_path):
    spec, task = get_spec(dataset), task_of(get_spec(dataset))
    rows = materialize_dataset(dataset, tmp_path / "data.csv").read_text().splitlines()[1:]
    targets = task.targets(spec.label.derive(parse_csv_rows(tf.constant(rows), spec)))
    assert task.bounds_met_by_prior(spec.thresholds, task.metrics(targets, task.prior_predictions(targets))) == []


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

    @tf.function(
        input_signature=[
            {
                "distance": tf.TensorSpec([None], tf.float64, name="distance"),
                "company": tf.TensorSpec([None], tf.string, name="company"),
                "hour": tf.TensorSpec([None], tf.float64, name="hour"),
            }
        ]
    )
    def serve(self, dense):
        flash_cab = tf.cast(tf.equal(dense["company"], "Flash Cab"), tf.float64)
        logit = (
            self.scale * (dense["distance"] - 5.0)
            + self.hour_weight * (dense["hour"] - 12.0)
            + self.flash_cab_bonus * flash_cab
        )
        return {"probability": tf.cast(tf.sigmoid(logit), tf.float32)}


class FareModel(tf.Module):
    """A champion trained on another spec: its signature asks for a `fare` column the taxi rows lack."""

    @tf.function(input_signature=[{"fare": tf.TensorSpec([None], tf.float64, name="fare")}])
    def serve(self, dense):
        return {"probability": tf.cast(tf.sigmoid(dense["fare"]), tf.float32)}


def _save_model(directory: Path, module: tf.Module | None = None, **logit: float) -> Path:
    """The module as a SavedModel made an MLflow model, as train exports it (push publishes only those)."""
    module = module or TipModel(**logit)
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    make_mlflow_model(directory, saved_model_inputs(directory), None)
    return directory


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The champion knows Flash Cab riders always tip and ignores the hour; the candidate does neither."""
    root = tmp_path_factory.mktemp("models")
    return {
        "candidate": _save_model(root / "candidate", scale=0.5, hour_weight=0.05, flash_cab_bonus=0.0),
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


def _evaluate(models, eval_csv, mlflow_store, tmp_path, thresholds=LENIENT, **gate_options):
    uri, run_id, model_name = mlflow_store
    return run_evaluate_step(
        model_dir=models["candidate"],
        eval_data_path=eval_csv,
        dataset="modeldata_taxi",
        tracking_uri=uri,
        pipeline_run_id=run_id,
        model_name=model_name,
        settings=GateSettings(thresholds, **gate_options),
        output_dir=tmp_path / "out",
    )


def _push_champion(mlflow_store: tuple[str, str, str], model_dir: Path, store: Path) -> str:
    """Push `model_dir` as the model's champion, as the pipeline's push does; returns its store URI."""
    uri, _, model_name = mlflow_store
    run = tracking.start_pipeline_run(uri, "push", "p", {})
    pushed = push_model(model_dir, str(store), model_name, uri, run, force_push=True)  # no gate: set-up
    return pushed.store_uri


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
        f"evaluation/{n}"
        for n in (
            *("roc_curve.png", "confusion_matrix.png", "calibration.png", "importance.png"),
            *("metrics.json", "decision.txt", "importance.json"),
        )
    }
    for plot in result.plots.values():
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads(result.metrics_file.read_text())
    assert written["blessed"] is True and written["metrics"]["roc_auc"] == result.metrics.roc_auc
    # Sun Taxi's 10 rows are under the spec's min_slice_rows (20): counted, named nowhere the step writes.
    assert (written["min_slice_rows"], written["hidden_slices"], written["skipped_slices"]) == (20, 1, {})
    assert "1 slice(s) under min_slice_rows (20 eval rows) not shown" in written["reasons"]
    assert "Sun Taxi" not in result.metrics_file.read_text() + "".join(result.decision.reasons)

    parent = client.get_run(run_id)
    assert parent.data.metrics["roc_auc"] == pytest.approx(result.metrics.roc_auc)
    assert parent.data.metrics["blessed"] == 1.0
    assert parent.info.status == "RUNNING"  # blessed: push comes next and finishes the run


def test_step_failing_thresholds_finishes_the_pipeline_run(models, eval_csv, mlflow_store, tmp_path):
    uri, run_id, _ = mlflow_store
    strict = {"roc_auc": 0.99, "accuracy": 0.6, "log_loss": 0.8}
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path, thresholds=strict)
    assert not result.decision.blessed
    assert any(r.startswith("FAIL: roc_auc") and r.endswith(">= 0.9900 (threshold)") for r in result.decision.reasons)
    parent = tracking.client(uri).get_run(run_id)
    assert parent.data.metrics["blessed"] == 0.0
    assert parent.info.status == "FINISHED"


def test_step_with_better_champion_does_not_bless(models, eval_csv, mlflow_store, tmp_path):
    uri, run_id, _ = mlflow_store
    _push_champion(mlflow_store, models["champion"], tmp_path / "store")
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path)

    assert result.champion_version == "1"
    assert result.champion_metrics.roc_auc > result.metrics.roc_auc + 0.01
    assert not result.decision.blessed
    assert any(r.startswith("FAIL") and "champion version 1 roc_auc" in r for r in result.decision.reasons)
    step = tracking.client(uri).get_run(result.step_run_id)
    assert step.data.metrics["champion_roc_auc"] == pytest.approx(result.champion_metrics.roc_auc)
    assert tracking.client(uri).get_run(run_id).info.status == "FINISHED"


def test_a_champion_whose_files_are_gone_is_not_a_pass(models, eval_csv, mlflow_store, tmp_path):
    """The store lost the champion: the gate refuses, naming the version and the error."""
    store_uri = _push_champion(mlflow_store, models["champion"], tmp_path / "store")
    shutil.rmtree(store_uri.removeprefix("file://"))
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path)
    assert result.champion_metrics is None and result.champion_version == "1"
    assert not result.decision.blessed
    [failure] = [r for r in result.decision.reasons if r.startswith("FAIL")]
    assert "champion version 1 could not be scored" in failure and "StorageError" in failure


def test_a_champion_needing_a_column_the_data_lacks_is_refused_unless_allowed(models, eval_csv, mlflow_store, tmp_path):
    _push_champion(mlflow_store, _save_model(tmp_path / "fare-model", FareModel()), tmp_path / "store")
    refused = _evaluate(models, eval_csv, mlflow_store, tmp_path)
    assert not refused.decision.blessed
    assert any("needs column(s) ['fare']" in r and r.startswith("FAIL") for r in refused.decision.reasons)

    uri, _, model_name = mlflow_store
    another_run = (uri, tracking.start_pipeline_run(uri, "evaluate-test", "allowed", {}), model_name)
    allowed = _evaluate(models, eval_csv, another_run, tmp_path, allow_unscored_champion=True)
    assert allowed.decision.blessed
    assert any(r.startswith("WAIVED: champion version 1") for r in allowed.decision.reasons)
    params = tracking.client(uri).get_run(allowed.step_run_id).data.params
    assert params["allow_unscored_champion"] == "True"


def test_the_gate_states_its_prior_and_baseline_margin(models, eval_csv, mlflow_store, tmp_path):
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path, baseline_margin=0.9)
    assert not result.decision.blessed  # no model beats the prior's log loss by 90%
    assert result.prior.positive_rate == pytest.approx(result.metrics.positive_rate)
    assert any(r.startswith("FAIL: log_loss") and "margin 0.9" in r for r in result.decision.reasons)
    written = json.loads(result.metrics_file.read_text())
    assert written["prior"]["log_loss"] == pytest.approx(result.prior.log_loss)
    assert written["gate"]["baseline_margin"] == 0.9


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
        thresholds={"roc_auc": 0.6, "accuracy": 0.6, "log_loss": 0.8},
        champion_tolerance=0.01,
        baseline_margin=0.02,
        allow_unscored_champion=False,
        s3_endpoint_url="",
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
    assert "evaluation: BLESSED" in page and page.count("data:image/png;base64,") == 4


def test_a_champion_on_s3_is_fetched_from_the_endpoint_the_step_is_given(
    models, eval_csv, mlflow_store, tmp_path, s3_endpoint
):
    """The s3_endpoint fixture clears AWS_ENDPOINT_URL: only the step's parameter names moto."""
    import boto3

    uri, run_id, model_name = mlflow_store
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="champions")
    pushed = push_model(
        models["champion"],
        "s3://champions/models",
        model_name,
        uri,
        tracking.start_pipeline_run(uri, "push", "p", {}),
        endpoint_url=s3_endpoint,
        force_push=True,
    )
    assert pushed.store_uri.startswith("s3://champions/")
    settings = GateSettings(LENIENT)
    result = run_evaluate_step(
        models["candidate"], eval_csv, "modeldata_taxi", uri, run_id, model_name, settings, tmp_path, s3_endpoint
    )
    assert result.champion_version == "1" and result.champion_metrics is not None
    assert any("scored on the same rows" in reason for reason in result.decision.reasons)


# --- explanations: permutation importance through the serving model ----------------------------


def _eval_rows(eval_csv: Path) -> tuple[dict[str, tf.Tensor], np.ndarray]:
    dense = parse_csv_rows(tf.constant(eval_csv.read_text().splitlines()[1:]), SPEC)
    return dense, np.asarray(SPEC.label.derive(dense)).astype(np.int64)


def test_importance_of_a_column_the_model_ignores_is_zero_and_distance_matters_most(models, eval_csv, tmp_path):
    dense, labels = _eval_rows(eval_csv)
    by_distance = _save_model(tmp_path / "distance-only", scale=1.0, hour_weight=0.0, flash_cab_bonus=0.0)
    importance = permutation_importance(load_scorer(by_distance, BINARY), dense, labels, SPEC.feature_columns, BINARY)
    assert list(importance) == sorted(importance, key=lambda column: -importance[column].mean)
    assert list(importance)[0] == "distance" and importance["distance"].ci_low > 0.1
    # Its logit has no hour or company term (and no model here reads local, dow or month): shuffling changes nothing.
    for ignored in ("hour", "company", "local", "dow", "month"):
        assert importance[ignored].mean == 0.0
        assert importance[ignored].ci_low <= 0.0 <= importance[ignored].ci_high
    assert {value.metric for value in importance.values()} == {"roc_auc"}
    # The champion also ignores the hour, but knows that Flash Cab riders always tip.
    champion = permutation_importance(
        load_scorer(models["champion"], BINARY), dense, labels, ["hour", "company"], BINARY
    )
    assert champion["hour"].mean == 0.0 and champion["company"].ci_low > 0


def test_importance_is_seeded_subsampled_and_has_a_t_interval(models, eval_csv):
    dense, labels = _eval_rows(eval_csv)
    score = load_scorer(models["candidate"], BINARY)
    settings = ImportanceSettings(max_rows=100, repeats=3, seed=4)
    first = permutation_importance(score, dense, labels, ["distance", "hour"], BINARY, settings)
    assert first == permutation_importance(score, dense, labels, ["distance", "hour"], BINARY, settings)
    scored_rows = []
    permutation_importance(
        lambda rows: scored_rows.append(len(rows["distance"])) or score(rows), dense, labels, ["hour"], BINARY, settings
    )
    assert scored_rows == [100] * (1 + settings.repeats)
    drops = np.array([0.1, 0.2, 0.3])
    width = 2.0 * 0.1 / math.sqrt(3) * 4.302652729911275  # t(0.975, 2 degrees of freedom)
    interval = _interval(drops, 0.95, "roc_auc")
    assert interval.mean == pytest.approx(0.2)
    assert interval.ci_high - interval.ci_low == pytest.approx(width)
    with pytest.raises(ValueError, match="repeats >= 2"):
        ImportanceSettings(repeats=1)


def test_importance_of_one_class_rows_is_empty(models, eval_csv):
    dense, labels = _eval_rows(eval_csv)
    one_class = np.ones_like(labels)
    assert permutation_importance(load_scorer(models["champion"], BINARY), dense, one_class, ["hour"], BINARY) == {}


# --- slices: gaps and the gate's slice checks ---------------------------------------------------


def _slices(**aucs: str) -> dict[str, BinaryMetrics]:
    """ "column=value" -> metrics on 20 rows scoring 'good' (AUC 1.0), 'fair', or 'reversed' (AUC 0.0)."""
    scores = {
        "good": np.r_[np.linspace(0.05, 0.4, 10), np.linspace(0.6, 0.95, 10)],
        "fair": np.r_[np.linspace(0.1, 0.6, 10), np.linspace(0.4, 0.9, 10)],
    }
    scores["reversed"] = scores["good"][::-1]
    return {key.replace("__", "="): binary_metrics(LABELS, scores[quality]) for key, quality in aucs.items()}


def test_slice_gaps_name_the_best_and_the_worst_slice_per_column():
    slices = _slices(area__a="good", area__b="fair", area__c="reversed", plan__yes="good")
    gaps = slice_gaps(BINARY, slices, ["area", "plan"])
    assert set(gaps) == {"area"}  # one slice of plan: no gap
    assert gaps["area"].to_dict() == {"gap": 1.0, "best": "area=a", "worst": "area=c", "metric": "roc_auc"}


def test_a_slice_under_the_floor_fails_the_gate_naming_it():
    slices = _slices(area__a="good", area__b="reversed", plan__yes="good")
    decision = _gate(_scored("good"), slice_gate=SliceGate(bound=0.7, columns=("area",)), slices=slices)
    assert not decision.blessed
    assert "PASS: slice area=a roc_auc 1.0000 >= 0.7000 (slice floor)" in decision.reasons
    assert "FAIL: slice area=b roc_auc 0.0000 >= 0.7000 (slice floor)" in decision.reasons
    assert not any("plan=yes" in reason for reason in decision.reasons)  # plan is not gated


def test_a_gap_over_the_maximum_fails_the_gate_naming_the_worst_slice():
    slices = _slices(area__a="good", area__b="fair")
    fair_auc = slices["area=b"].roc_auc
    decision = _gate(_scored("good"), slice_gate=SliceGate(max_gap=0.05, columns=("area",)), slices=slices)
    assert not decision.blessed
    [failure] = [reason for reason in decision.reasons if reason.startswith("FAIL")]
    assert failure.startswith(f"FAIL: roc_auc gap {1 - fair_auc:.4f} across area <= 0.0500 (max gap): worst area=b")
    wide = SliceGate(max_gap=0.5, columns=("area",))
    assert _gate(_scored("good"), slice_gate=wide, slices=slices).blessed


def test_small_and_one_class_slices_are_reported_not_gated():
    labels = np.r_[np.zeros(20), np.ones(20), np.zeros(5), np.ones(5)].astype(int)
    probabilities = np.r_[np.linspace(0.05, 0.4, 20), np.linspace(0.6, 0.95, 20), np.full(5, 0.9), np.full(5, 0.1)]
    measured, skipped = slice_metrics(BINARY, labels, probabilities, {"area": np.array(["a"] * 40 + ["tiny"] * 10)})
    assert set(measured) == {"area=a"} and skipped == {"area=tiny": 10}
    strict = SliceGate(bound=0.99, max_gap=0.0, columns=("area",))
    decision = _gate(_scored("good"), slice_gate=strict, slices=measured)
    assert decision.blessed  # area=a passes; the tiny slice (AUC 0 on its rows) is not measured, so not gated
    assert any(r.startswith("INFO: roc_auc gap across area not gated") for r in decision.reasons)
    one_class = {"area=a": binary_metrics(np.ones(40, dtype=int), np.linspace(0.05, 0.95, 40))}
    decision = _gate(_scored("good"), slice_gate=replace(strict, required=False), slices=one_class)
    assert decision.blessed
    assert "INFO: slice area=a holds one class, roc_auc undefined: not gated" in decision.reasons
    assert not _gate(_scored("good"), slice_gate=strict, slices=one_class).blessed  # required: nothing checked


def test_a_spec_slice_gate_covers_all_slice_columns_unless_it_names_some():
    assert replace(SPEC, slice_gate=SliceGate(bound=0.6)).slice_gate.columns == SPEC.slice_columns
    assert replace(SPEC, slice_gate=SliceGate(max_gap=0.1, columns=("local",))).slice_gate.columns == ("local",)
    with pytest.raises(ValueError, match=r"\['hour'\] are not slice_columns"):
        replace(SPEC, slice_gate=SliceGate(bound=0.6, columns=("hour",)))
    with pytest.raises(ValueError, match="neither"):
        replace(SPEC, slice_gate=SliceGate())
    with pytest.raises(ValueError, match="max_gap must be >= 0"):
        replace(SPEC, slice_gate=SliceGate(max_gap=-0.1))


# --- the step: importance and slice gaps in metrics.json, MLflow and the report -------------------


def test_step_writes_importance_and_slice_gaps_to_metrics_json_mlflow_and_the_report(
    models, eval_csv, mlflow_store, tmp_path
):
    uri, _, _ = mlflow_store
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path)
    written = json.loads(result.metrics_file.read_text())
    assert set(written["importance"]) == set(SPEC.feature_columns)
    for value in written["importance"].values():
        assert set(value) == {"mean", "ci_low", "ci_high", "metric"} and value["metric"] == "roc_auc"
        assert value["ci_low"] <= value["mean"] <= value["ci_high"]
    assert next(iter(written["importance"])) == "distance"
    assert written["importance_method"]["rows"] == 150 and written["importance_method"]["repeats"] == 5
    # Flash Cab holds one class and Sun Taxi is too small: company has one comparable slice, so no gap.
    assert set(written["slice_gaps"]) == {"local"}
    gap = written["slice_gaps"]["local"]
    assert set(gap) == {"gap", "best", "worst", "metric"} and gap["metric"] == "roc_auc"
    aucs = {key: written["slices"][key]["roc_auc"] for key in ("local=yes", "local=no")}
    assert gap["best"] == max(aucs, key=aucs.get) and gap["gap"] == pytest.approx(
        abs(aucs["local=yes"] - aucs["local=no"])
    )

    step = tracking.client(uri).get_run(result.step_run_id).data
    assert step.metrics["importance.distance"] == pytest.approx(result.importance["distance"].mean)
    assert step.metrics["slice_gap.local.roc_auc"] == pytest.approx(gap["gap"])
    assert step.params["importance_max_rows"] == "20000"
    page = html_report(
        "t", BINARY, result.metrics, result.decision, result.plots, result.slices, result.slice_gaps, result.importance
    )
    assert "Permutation importance" in page and "<td>distance</td>" in page and f"<td>{gap['worst']}</td>" in page


def test_step_gates_the_spec_slice_gate_naming_the_slice(models, eval_csv, mlflow_store, tmp_path, monkeypatch):
    gated = replace(SPEC, slice_gate=SliceGate(bound=0.99, columns=("local",)))
    monkeypatch.setattr("components.evaluate.task.get_spec", lambda name: gated)
    result = _evaluate(models, eval_csv, mlflow_store, tmp_path)
    assert not result.decision.blessed
    failures = [reason for reason in result.decision.reasons if reason.startswith("FAIL")]
    assert failures and all(reason.startswith("FAIL: slice local=") for reason in failures)
    assert json.loads(result.metrics_file.read_text())["blessed"] is False
