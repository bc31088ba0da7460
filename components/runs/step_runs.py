"""A step's nested MLflow run, and the end of the pipeline's: each pushes its run metrics as it ends.

The MLflow side (the client, the pipeline's run, the tags) is `components.common.tracking`; this module
adds what needs the dataset's task (`run_metrics`), so it stands above common.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Mapping

import mlflow
from mlflow.entities import RunStatus

from components.common import tracking
from components.runs import run_metrics


@contextmanager
def step_run(tracking_uri: str, pipeline_run_id: str, step: str) -> Iterator[mlflow.ActiveRun]:
    """A nested MLflow run for one step; an exception fails the step's and the pipeline's run."""
    mlflow_client = tracking.client(tracking_uri)
    parent = mlflow_client.get_run(pipeline_run_id)
    started = time.time()
    try:
        with mlflow.start_run(
            run_name=step,
            experiment_id=parent.info.experiment_id,
            parent_run_id=pipeline_run_id,
            tags={"step": step},
        ) as active:
            yield active
    except BaseException as error:
        # The error, on the pipeline's run, tells a user in the MLflow UI why it failed.
        message = f"{step}: {error}"[:4000]
        mlflow_client.set_tag(pipeline_run_id, tracking.ERROR_TAG, message)
        mlflow_client.set_terminated(pipeline_run_id, RunStatus.to_string(RunStatus.FAILED))
        run_metrics.push_step(mlflow_client, parent, step, started, succeeded=False)
        raise
    run_metrics.push_step(mlflow_client, parent, step, started, succeeded=True)


def record_step(tracking_uri: str, pipeline_run_id: str, step: str, outputs: Mapping[str, object]) -> None:
    """A finished child run for a step that cannot log itself (a cached one): numbers as metrics, the rest params."""
    numbers = {k: float(v) for k, v in outputs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    with step_run(tracking_uri, pipeline_run_id, step):
        mlflow.log_metrics(numbers)
        mlflow.log_params({key: str(value) for key, value in outputs.items() if key not in numbers})


def finish_pipeline_run(tracking_uri: str, pipeline_run_id: str) -> None:
    mlflow_client = tracking.client(tracking_uri)
    mlflow_client.set_terminated(pipeline_run_id, RunStatus.to_string(RunStatus.FINISHED))
    run_metrics.push_pipeline_finished(mlflow_client, pipeline_run_id)
