"""Run the training pipeline on this machine with kfp.local: each step a subprocess of this Python."""

from __future__ import annotations

import contextlib
import time
import warnings

from kfp import local

from components.data.spans import window_end
from components.runs.settings import Settings
from pipelines.arguments import Overrides, pipeline_arguments
from pipelines.step_capture import StepCapture
from pipelines.summary import RunSummary, find_latest_pipeline_run, mark_failed_if_running, summarize
from pipelines.training_pipeline import build_training_pipeline


class PipelineFailed(RuntimeError):
    def __init__(self, summary: RunSummary | None, cause: str) -> None:
        super().__init__(summary.error if summary and summary.error else cause)
        self.summary = summary


def run_locally(
    settings: Settings, overrides: Overrides | None = None, capture: StepCapture | None = None
) -> RunSummary:
    """Run end to end; returns the summary, or raises PipelineFailed carrying the failed run's summary.

    With a `capture`, each step's output goes to its log and the screen shows a line per step;
    without one, kfp.local streams everything (the tests, `VERBOSE=1`).
    """
    # The steps name their cluster images; locally they run in this environment by design.
    warnings.filterwarnings("ignore", message="You may be attemping to run a task", category=RuntimeWarning)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=settings.pipeline_root)
    started_ms = int(time.time() * 1000)
    # The span window ends on the run's day, fixed once here so that every step reads the same spans.
    arguments = {**pipeline_arguments(settings, overrides or Overrides())}
    arguments["data_as_of"] = window_end(settings.data_as_of).isoformat()
    # The summary is read inside the capture too: MLflow's download bars belong in the run's log.
    with capture if capture is not None else contextlib.nullcontext():
        try:
            outputs = build_training_pipeline(
                retry_failed_steps=False, train_workers=settings.train_workers, scheduled_time=False
            )(**arguments)
        except RuntimeError as failure:
            run_id = find_latest_pipeline_run(settings.mlflow_tracking_uri, settings.mlflow_experiment, started_ms)
            if run_id:
                mark_failed_if_running(settings.mlflow_tracking_uri, run_id, str(failure))
            summary = (
                summarize(settings.mlflow_tracking_uri, run_id, settings.model_name, settings.dataset)
                if run_id
                else None
            )
            raise PipelineFailed(summary, str(failure)) from failure
        return summarize(
            settings.mlflow_tracking_uri, outputs.outputs["mlflow_run_id"], settings.model_name, settings.dataset
        )
