"""Run the monitoring pipeline on this machine with kfp.local, like the training pipeline's local runner."""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from kfp import local

from components.data.spans import window_end
from components.runs.settings import Settings
from components.score.output import is_output
from pipelines.arguments import monitoring_arguments
from pipelines.monitoring_pipeline import build_monitoring_pipeline
from pipelines.step_capture import StepCapture


@dataclass(frozen=True)
class MonitoringOutcome:
    drifted: bool
    verdict: str
    report: Path
    summary: Path


def run_monitoring_locally(
    settings: Settings,
    baseline_uri: str,
    retrain_on_drift: bool,
    training_data_uri: str | None,
    report_dir: Path,
    capture: StepCapture | None = None,
) -> MonitoringOutcome:
    """Run the check (and the retrain it may trigger); copy the report and summary into `report_dir`.

    `capture` as for pipelines.local_runner.run_locally: a line per step, each step's output in its log.
    A retrain checked on a scoring output needs `training_data_uri`: the output holds no labels to train on.
    """
    if retrain_on_drift and not training_data_uri and is_output(settings.data_uri, settings.s3_endpoint_url):
        raise ValueError(
            f"DATA_URI {settings.data_uri} is a scoring output, which a retrain cannot train on; set TRAIN_DATA_URI"
        )
    warnings.filterwarnings("ignore", message="You may be attemping to run a task", category=RuntimeWarning)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=settings.pipeline_root)
    with capture if capture is not None else contextlib.nullcontext():
        arguments = monitoring_arguments(settings, baseline_uri, retrain_on_drift, training_data_uri)
        outputs = build_monitoring_pipeline(retry_failed_steps=False, scheduled_time=False)(
            **{**arguments, "data_as_of": window_end(settings.data_as_of).isoformat()}
        ).outputs
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = Path(shutil.copyfile(outputs["drift_summary"].path, report_dir / "drift_summary.json"))
    report = Path(shutil.copyfile(outputs["report"].path, report_dir / "drift_report.html"))
    data = json.loads(summary.read_text(encoding="utf-8"))
    return MonitoringOutcome(drifted=data["drifted"], verdict=data["verdict"], report=report, summary=summary)
