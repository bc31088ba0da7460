"""Paths and helpers the monitoring tests share: monitoring/ files, reading a Pushgateway, what the code emits."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import pandas as pd
from mlflow.entities import Run
from penguins_data import PenguinFiles
from prometheus_client.parser import text_string_to_metric_families

from components.common.specs import get_spec
from components.data.baseline import build_baseline
from components.monitor.drift import DriftThresholds, compare
from components.monitor.task import drift_metric_set
from components.runs import run_metrics
from components.tasks import task_of

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
RULES = MONITORING / "prometheus" / "rules.yml"
RULES_TEST = MONITORING / "prometheus" / "rules_test.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
# Real data beside the project on developer machines and in CI only: tests on it are extra runs.
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_PENGUINS = PenguinFiles(
    reference=SHARED_DATA / "penguins" / "penguins_processed.csv",
    skewed=SHARED_DATA / "penguins" / "penguins_skewed.csv",
    rows=334,
    species={"0": 146, "1": 68, "2": 120},
    measurements=("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"),
    planted_column="culmen_length_mm",
    planted_value=-1.0,
)
SHARED_TAXI_CSV = SHARED_DATA / "chicago_taxi" / "data.csv"
# A metric or recording-rule name of this project inside a PromQL expression.
PROJECT_METRIC = re.compile(r"\btabular_mlops[a-zA-Z0-9_:]*")

# What the steps log to MLflow (their step runs' metrics and params), as run_metrics reads it back.
STEP_MLFLOW_METRICS = {
    "validate": {"rows": 100, "expectations_evaluated": 40, "expectations_failed": 1, "critical_failures": 0},
    "transform": {"train_rows": 80, "eval_rows": 20},
    "train": {"best_val_auc": 0.9, "best_val_loss": 0.3, "train_seconds": 12.0, "epochs_run": 3},
    "push": {},
}
PUSH_PARAMS = {"model_name": "taxi-classifier", "model_version": "3"}
# What the evaluate step logs per task (a dataset of each): the task's scalars and `blessed` as metrics, the
# gate's bounds as `threshold.<metric>` params; and beside them figures that are not the task's metrics.
EVALUATIONS: dict[str, tuple[dict[str, float], dict[str, str]]] = {
    "chicago_taxi": (
        {
            "roc_auc": 0.91, "accuracy": 0.88, "precision": 0.8, "recall": 0.7, "log_loss": 0.3,
            "expected_calibration_error": 0.02, "positive_rate": 0.4, "example_count": 3000.0, "blessed": 1.0,
            "champion_roc_auc": 0.9, "slice.payment_type_Cash.roc_auc": 0.85, "importance_seconds": 2.0,
        },
        {"threshold.roc_auc": "0.93", "threshold.accuracy": "0.85", "threshold.log_loss": "0.4", "seed": "1"},
    ),
    "penguins": (
        {
            "accuracy": 0.97, "log_loss": 0.12, "macro_f1": 0.96, "weighted_f1": 0.97, "example_count": 68.0,
            "precision.Adelie": 0.98, "recall.Adelie": 1.0, "precision.Gentoo": 1.0, "recall.Gentoo": 0.95,
            "blessed": 1.0, "slice.island_Dream.log_loss": 0.2,
        },
        {"threshold.accuracy": "0.9", "threshold.log_loss": "0.4"},
    ),
    "ames": (
        {
            "rmse": 24000.0, "mae": 15000.0, "r2": 0.9, "mean_target": 180000.0, "mean_prediction": 179000.0,
            "example_count": 586.0, "blessed": 0.0, "slice.Bldg_Type_Duplex.rmse": 30000.0,
        },
        {"threshold.r2": "0.88", "threshold.rmse": "30000"},
    ),
}  # fmt: skip


def scrape(gateway: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample the Pushgateway exposes: (name, labels, value)."""
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=10) as response:
        text = response.read().decode("utf-8")
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port just bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def wipe(gateway: str) -> None:
    """Empty the gateway (its admin API), so that a test sees only what it pushed."""
    request = urllib.request.Request(f"{gateway}/api/v1/admin/wipe", method="PUT")
    with urllib.request.urlopen(request, timeout=10):
        pass


def names(metrics: run_metrics.MetricSet) -> set[str]:
    return {family.name for family in metrics.registry.collect()}


def evaluation_metrics(dataset: str, pipeline_run: str = "run") -> run_metrics.MetricSet:
    """The evaluate step's group for `dataset`'s entry of EVALUATIONS."""
    metrics, params = EVALUATIONS[dataset]
    task = task_of(get_spec(dataset))
    return run_metrics.step_metrics("evaluate", pipeline_run, True, 0.0, 5.0, metrics, params, {}, task)


def emitted_metric_names(finished_run: Run, penguins: PenguinFiles) -> set[str]:
    """Every metric name the code pushes: each step's group, a finished pipeline's, a drift check's on real data."""
    found: set[str] = set()
    for step, metrics in STEP_MLFLOW_METRICS.items():
        params = PUSH_PARAMS if step == "push" else {}
        parent = {"roc_auc": 0.91, "accuracy": 0.88, "log_loss": 0.3}
        task = task_of(get_spec("chicago_taxi"))
        found |= names(run_metrics.step_metrics(step, "run", True, 0.0, 5.0, metrics, params, parent, task))
    for dataset in EVALUATIONS:
        found |= names(evaluation_metrics(dataset))
    found |= names(run_metrics.pipeline_finished_metrics(finished_run))
    full = pd.read_csv(penguins.reference)
    report = compare(
        build_baseline([full], "penguins", "reference"), pd.read_csv(penguins.skewed), "skewed", DriftThresholds()
    )
    return found | names(drift_metric_set(report, "run"))
