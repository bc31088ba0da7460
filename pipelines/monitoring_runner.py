"""Run the monitoring pipeline on this machine with kfp.local, like the training pipeline's local runner."""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp import local

from components.common.settings import Settings
from pipelines.arguments import pipeline_arguments
from pipelines.monitoring_pipeline import monitoring_pipeline


@dataclass(frozen=True)
class MonitoringOutcome:
    drifted: bool
    verdict: str
    report: Path
    summary: Path


def monitoring_arguments(
    settings: Settings, baseline_uri: str, retrain_on_drift: bool, training_data_uri: str | None
) -> dict[str, Any]:
    """The new data is `DATA_URI`; a retrain (when asked) uses the training pipeline's own arguments."""
    training = pipeline_arguments(settings)
    return {
        "data_uri": settings.data_uri,
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "model_name": settings.model_name,
        "dataset": settings.dataset,
        "training_data_uri": training_data_uri or settings.data_uri,
        "model_store_uri": settings.model_store_uri,
        "min_roc_auc": training["min_roc_auc"],
        "min_accuracy": training["min_accuracy"],
        "max_log_loss": training["max_log_loss"],
        "training_experiment": settings.mlflow_experiment,
        "baseline_uri": baseline_uri,
        "retrain_on_drift": retrain_on_drift,
        "s3_endpoint_url": settings.s3_endpoint_url,
        "epochs": settings.epochs,
    }


def run_monitoring_locally(
    settings: Settings,
    baseline_uri: str,
    retrain_on_drift: bool,
    training_data_uri: str | None,
    report_dir: Path,
) -> MonitoringOutcome:
    """Run the check (and the retrain it may trigger); copy the report and summary into `report_dir`."""
    warnings.filterwarnings("ignore", message="You may be attemping to run a task", category=RuntimeWarning)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=settings.pipeline_root)
    outputs = monitoring_pipeline(
        **monitoring_arguments(settings, baseline_uri, retrain_on_drift, training_data_uri)
    ).outputs
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = Path(shutil.copyfile(outputs["drift_summary"].path, report_dir / "drift_summary.json"))
    report = Path(shutil.copyfile(outputs["report"].path, report_dir / "drift_report.html"))
    data = json.loads(summary.read_text(encoding="utf-8"))
    return MonitoringOutcome(drifted=data["drifted"], verdict=data["verdict"], report=report, summary=summary)
