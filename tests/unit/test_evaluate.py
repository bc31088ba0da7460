"""The evaluate step: metrics with known answers, the gate, and a real run on SavedModels and SQLite MLflow."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from kfp import dsl

from components.common import tracking
from components.common.raw_tensors import parse_csv_rows
from components.common.specs import get_spec
from components.common.specs.modeldata_taxi import SPEC
from components.evaluate import component
from components.evaluate.gate import DISABLED, ChampionScore, Prior, Thresholds, gate
from components.evaluate.metrics import MAX_ROC_POINTS, BinaryMetrics, binary_metrics, calibration, thinned_roc_curve
from components.evaluate.task import GateSettings, mlflow_metric_name, run_evaluate_step
from components.push.task import push_model
from pipelines.datasets import bundled_datasets, materialize_dataset

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


LABELS = np.array([0] * 10 + [1] * 10)
PRIOR = Prior.of(LABELS)
NO_CHAMPION = ChampionScore(version=None, note="no champion")
OFF = Thresholds(min_roc_auc=DISABLED, min_accuracy=DISABLED, max_log_loss=DISABLED)


def _scored(quality: str) -> BinaryMetrics:
    """Two hand-made score sets on the same labels: 'good' separates perfectly, 'fair' does not."""
    good = np.r_[np.linspace(0.05, 0.4, 10), np.linspace(0.6, 0.95, 10)]
    fair = np.r_[np.linspace(0.1, 0.6, 10), np.linspace(0.4, 0.9, 10)]
    return binary_metrics(LABELS, good if quality == "good" else fair)


def _gate(candidate, thresholds=LENIENT, champion=NO_CHAMPION, **options):
    return gate(candidate, thresholds, 0.01, PRIOR, 0.02, champion, **options)


def test_gate_fails_on_each_absolute_threshold():
    decision = _gate(_scored("fair"), Thresholds(min_roc_auc=0.99, min_accuracy=0.99, max_log_loss=0.01))
    assert not decision.blessed
    verdicts = [reason.split(":")[0] for reason in decision.reasons[1:]]
    assert verdicts == ["FAIL", "FAIL", "FAIL", "PASS", "PASS", "INFO"]
    assert "min_roc_auc" in decision.reasons[1] and "0.9900" in decision.reasons[1]


def test_gate_without_champion_decides_on_thresholds_and_the_prior():
    decision = _gate(_scored("fair"))
    assert decision.blessed
    assert decision.reasons[0] == "no champion"
    assert [r.split(":")[0] for r in decision.reasons[1:]] == ["PASS"] * 5 + ["INFO"]
    assert any("base-rate log loss 0.6931" in r for r in decision.reasons)


def test_prior_of_labels_by_hand():
    prior = Prior.of(np.array([1, 1, 1, 0]))
    assert prior.positive_rate == 0.75 and prior.accuracy == 0.75 and prior.roc_auc == 0.5
    assert prior.log_loss == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_the_base_rate_predictor_is_never_blessed_even_with_every_bound_off():
    labels = np.array([1] * 92 + [0] * 8)
    prior = Prior.of(labels)
    always_tips = binary_metrics(labels, np.full(100, prior.positive_rate))
    decision = gate(always_tips, OFF, 0.01, prior, 0.02, NO_CHAMPION)
    assert not decision.blessed
    assert [r.split(":")[0] for r in decision.reasons[1:4]] == ["OFF", "OFF", "OFF"]
    assert [r.split(":")[0] for r in decision.reasons[4:6]] == ["FAIL", "FAIL"]


def test_scores_that_ignore_the_label_fail_the_prior_rule():
    rng = np.random.default_rng(3)
    labels = rng.permutation(np.array([1] * 900 + [0] * 100))
    prior = Prior.of(labels)
    noise = binary_metrics(labels, np.clip(prior.positive_rate + rng.normal(0, 0.05, labels.size), 0, 1))
    assert not gate(noise, OFF, 0.01, prior, 0.02, NO_CHAMPION).blessed


def test_prior_names_the_bounds_it_meets_itself():
    prior = Prior.of(np.array([1] * 92 + [0] * 8))
    met = prior.met_by(Thresholds(min_roc_auc=0.56, min_accuracy=0.9, max_log_loss=0.3))
    assert len(met) == 2 and "min_accuracy 0.9" in met[0] and "max_log_loss 0.3" in met[1]
    assert prior.met_by(Thresholds(min_roc_auc=0.56, min_accuracy=DISABLED, max_log_loss=0.25)) == []


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
    spec = get_spec(dataset)
    rows = materialize_dataset(dataset, tmp_path / "data.csv").read_text().splitlines()[1:]
    labels = np.asarray(spec.label.derive(parse_csv_rows(tf.constant(rows), spec)))
    assert Prior.of(labels).met_by(spec.thresholds) == []


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
    module = module or TipModel(**logit)
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
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
    pushed = push_model(model_dir, str(store), model_name, uri, tracking.start_pipeline_run(uri, "push", "p", {}))
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
        for n in ("roc_curve.png", "confusion_matrix.png", "calibration.png", "metrics.json", "decision.txt")
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


def test_a_champion_needing_a_column_the_data_lacks_is_refused_unless_allowed(
    models, eval_csv, mlflow_store, tmp_path
):
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
        min_roc_auc=0.6,
        min_accuracy=0.6,
        max_log_loss=0.8,
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
    assert "evaluation: BLESSED" in page and page.count("data:image/png;base64,") == 3
