"""MLflow helpers: one MLflow run per pipeline run, one nested run per step.

The validate step opens the pipeline's run (`start_pipeline_run`) and passes its
id on; every step then logs inside `step_run`, a child of that run. A step that
raises marks the pipeline's run FAILED; the step that ends the pipeline marks it
FINISHED (`finish_pipeline_run`).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import mlflow
from mlflow.entities import Param, RunStatus
from mlflow.tracking import MlflowClient

PIPELINE_JOB_TAG = "kfp.pipeline_job_name"
DATASET_TAG = "dataset"
ERROR_TAG = "error"
# The registry contract between push (which writes it) and evaluate and the run summary (which read it).
CHAMPION_ALIAS = "champion"
STORE_URI_TAG = "store_uri"
# Why a pushed version did or did not become champion (two pushes may race; see components/push/task.py).
CHAMPION_DECISION_TAG = "champion_decision"
# The evaluate step's run artifact with the gate's decision, one line per check; the run summary prints it.
GATE_DECISION_ARTIFACT = "evaluation/decision.txt"
# Prefix of the evaluate step's params that record the gate's bounds: `threshold.<metric>` = bound.
THRESHOLD_PARAM = "threshold."


# The one place MLflow's HTTP retries are bounded (MLflow's own default retries for minutes):
# 3 retries, 1 s, 2 s, 4 s apart (plus up to 1 s jitter), 30 s per request. A value set in the environment wins.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def client(tracking_uri: str) -> MlflowClient:
    """A client for the tracking and registry store; a tracking server is retried within HTTP_RETRY_DEFAULTS."""
    for name, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(name, value)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def start_pipeline_run(
    tracking_uri: str,
    experiment: str,
    pipeline_job_name: str,
    params: Mapping[str, object],
    tags: Mapping[str, str] | None = None,
) -> str:
    """Create the MLflow run that stands for one pipeline run; returns its id."""
    mlflow_client = client(tracking_uri)
    found = mlflow_client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else mlflow_client.create_experiment(experiment, artifact_location=_artifact_location(tracking_uri, experiment))
    )
    run = mlflow_client.create_run(
        experiment_id,
        run_name=pipeline_job_name,
        tags={PIPELINE_JOB_TAG: pipeline_job_name, **(tags or {})},
    )
    for key, value in params.items():
        mlflow_client.log_param(run.info.run_id, key, value)
    return run.info.run_id


def _artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Next to a SQLite store, artifacts go in an absolute folder beside the database.

    MLflow's own default there is "./mlruns" relative to the working directory,
    which differs between pipeline steps. A tracking server decides for itself (None).
    """
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    database = Path(tracking_uri[len(prefix) :])
    return (database.parent / "artifacts" / experiment).resolve().as_uri()


@contextmanager
def step_run(tracking_uri: str, pipeline_run_id: str, step: str) -> Iterator[mlflow.ActiveRun]:
    """A nested MLflow run for one step; an exception fails the step's and the pipeline's run."""
    from components.common import run_metrics

    mlflow_client = client(tracking_uri)
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
        mlflow_client.set_tag(pipeline_run_id, ERROR_TAG, message)
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


def log_pipeline_params(tracking_uri: str, pipeline_run_id: str, step: str, params: Mapping[str, object]) -> None:
    """Copy a step's params onto the pipeline's run as `<step>.<name>`, so runs compare in the MLflow UI."""
    client(tracking_uri).log_batch(
        pipeline_run_id, params=[Param(f"{step}.{key}", str(value)) for key, value in params.items()]
    )


def finish_pipeline_run(tracking_uri: str, pipeline_run_id: str) -> None:
    from components.common import run_metrics

    mlflow_client = client(tracking_uri)
    mlflow_client.set_terminated(pipeline_run_id, RunStatus.to_string(RunStatus.FINISHED))
    run_metrics.push_pipeline_finished(mlflow_client, pipeline_run_id)
