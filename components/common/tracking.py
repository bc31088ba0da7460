"""MLflow helpers: one MLflow run per pipeline run, one nested run per step.

The validate step opens the pipeline's run (`start_pipeline_run`) and passes its
id on; every step then logs inside `components.runs.step_runs.step_run`, a child
of that run. A step that raises marks the pipeline's run FAILED; the step that
ends the pipeline marks it FINISHED (`step_runs.finish_pipeline_run`). Those two
push the run metrics, which the dataset's task names, so they stand a floor up.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import mlflow
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

PIPELINE_JOB_TAG = "kfp.pipeline_job_name"
ERROR_TAG = "error"
DATASET_TAG = "dataset"
# Prefix of the evaluate step's params that record the gate's bounds: `threshold.<metric>` = bound.
THRESHOLD_PARAM = "threshold."
# The registry contract between push (which writes it) and evaluate and the run summary (which read it).
CHAMPION_ALIAS = "champion"
STORE_URI_TAG = "store_uri"
# Why a pushed version did or did not become champion (two pushes may race; see components/push/task.py).
CHAMPION_DECISION_TAG = "champion_decision"
# The evaluate step's run artifact with the gate's decision, one line per check; the run summary prints it.
GATE_DECISION_ARTIFACT = "evaluation/decision.txt"


# The one place MLflow's HTTP retries are bounded (MLflow's own default retries for minutes):
# 3 retries, 1 s, 2 s, 4 s apart (plus up to 1 s jitter), 30 s per request. A value set in the environment wins.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


# Under a deadline (http_deadline) these are replaced, for every MLflow HTTP call the process makes meanwhile,
# by values that make one call end in time: urllib3 waits 0, 2, 4 s (factor 1, no jitter) before retries 1, 2, 3,
# and each attempt may take twice the timeout (connecting, then reading).
_DEADLINE_ENV = (*HTTP_RETRY_DEFAULTS, "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER")
_deadlines: dict[int, float] = {}  # id of an open http_deadline -> its deadline (time.monotonic())
_deadlines_guard = threading.Lock()
_deadline_keys = itertools.count()
_env_outside: dict[str, str | None] = {}


class DeadlineError(TimeoutError):
    """Too little time is left before a deadline for even one MLflow HTTP call of 1 s."""


def http_limits(seconds: float) -> dict[str, str] | None:
    """MLflow HTTP settings under which one call, all its retries and back-off included, ends within `seconds`.

    The most retries that still leave each attempt 10 s (a loaded server's slow reply), else the longest attempt.
    """
    cap = int(HTTP_RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    fits = []
    for retries in (3, 2, 1, 0):
        backoff = 2**retries - 2 if retries > 1 else 0
        timeout = min(cap, int((seconds - backoff) / (2 * (retries + 1))))
        if timeout >= 1:  # MLflow reads the timeout as whole seconds
            fits.append((retries, timeout))
    if not fits:
        return None
    retries, timeout = next(((r, t) for r, t in fits if t >= 10), max(fits, key=lambda fit: fit[1]))
    return {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout),
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
        "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
    }


@contextmanager
def http_deadline(deadline: float | None) -> Iterator[None]:
    """Make each MLflow HTTP call started inside end, retries included, by `deadline` (time.monotonic()).

    MLflow reads its HTTP settings from the environment at each call, so they are set process-wide, for the
    nearest deadline open in any thread; calls of other threads meanwhile only get shorter limits. Raises
    DeadlineError when not even one attempt fits. None: no deadline.
    """
    if deadline is None:
        yield
        return
    key = next(_deadline_keys)
    with _deadlines_guard:
        if not _deadlines:
            _env_outside.update({name: os.environ.get(name) for name in _DEADLINE_ENV})
        _deadlines[key] = deadline
        try:
            _apply_nearest_deadline(strict=True)
        except DeadlineError:
            _close_deadline(key)
            raise
    try:
        yield
    finally:
        with _deadlines_guard:
            _close_deadline(key)


def _apply_nearest_deadline(strict: bool) -> None:
    left = min(_deadlines.values()) - time.monotonic()
    limits = http_limits(left)
    if limits is None:
        if strict:
            raise DeadlineError(f"{max(left, 0.0):.1f} s left before the deadline")
        limits = http_limits(2.0)  # the shortest there is: others' calls are under way already
    os.environ.update(limits)


def _close_deadline(key: int) -> None:
    del _deadlines[key]
    if _deadlines:
        _apply_nearest_deadline(strict=False)
        return
    for name, value in _env_outside.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


def log_pipeline_params(tracking_uri: str, pipeline_run_id: str, step: str, params: Mapping[str, object]) -> None:
    """Copy a step's params onto the pipeline's run as `<step>.<name>`, so runs compare in the MLflow UI."""
    client(tracking_uri).log_batch(
        pipeline_run_id, params=[Param(f"{step}.{key}", str(value)) for key, value in params.items()]
    )
