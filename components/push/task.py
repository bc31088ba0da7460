"""Push: copy a blessed SavedModel to the model store and make it the registry's champion.

The push is all or nothing. Files go to a fresh, sortable prefix
(`<store>/<model name>/<UTC time>-<run id>`) and are re-read to check their
SHA-256 before MLflow hears of them; then a model version is created whose source
is that prefix, and the `champion` alias is moved to it as the very last step.
A failure before the alias moves deletes the new version and the new files, so
readers of `models:/<name>@champion` only ever see the previous, complete model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Callable

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking

READY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class PushResult:
    model_version: str
    store_uri: str
    files: int
    bytes: int


def push_model(
    model_dir: Path,
    model_store_uri: str,
    model_name: str,
    tracking_uri: str,
    pipeline_run_id: str,
    endpoint_url: str | None = None,
) -> PushResult:
    """Publish `model_dir` as the new champion of `model_name`, then end the pipeline's run."""
    destination = version_uri(model_store_uri, model_name, pipeline_run_id)
    client = tracking.client(tracking_uri)
    with tracking.step_run(tracking_uri, pipeline_run_id, "push"):
        if not (model_dir / "saved_model.pb").is_file():
            raise ValueError(f"{model_dir} is not a TensorFlow SavedModel: no saved_model.pb in it")
        mlflow.log_params({"model_name": model_name, "store_uri": destination})
        undo = [(f"delete {destination}", partial(storage.delete_prefix, destination, endpoint_url))]
        try:
            checksums = storage.upload_dir(model_dir, destination, endpoint_url)
            storage.verify_dir(destination, checksums, endpoint_url)
            version = _create_version(client, model_name, destination, pipeline_run_id, checksums)
            undo.append(
                (
                    f"delete model version {model_name}/{version.version}",
                    partial(client.delete_model_version, model_name, version.version),
                )
            )
            _wait_until_ready(client, version)
            mlflow.log_params({"model_version": version.version})
            client.set_registered_model_alias(model_name, tracking.CHAMPION_ALIAS, version.version)
        except BaseException as error:
            _roll_back(undo, error)
            raise
    tracking.finish_pipeline_run(tracking_uri, pipeline_run_id)
    return PushResult(
        model_version=str(version.version),
        store_uri=destination,
        files=len(checksums),
        bytes=sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file()),
    )


def version_uri(model_store_uri: str, model_name: str, pipeline_run_id: str) -> str:
    """Where one push's files go; a local store path becomes a file:// URI.

    The registry's version number is only known after registering, so the prefix
    is the UTC time (to the microsecond, so prefixes sort in push order) plus the
    start of the pipeline's run id.
    """
    store = model_store_uri.rstrip("/")
    if "://" not in store:
        store = Path(store).expanduser().absolute().as_uri()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{store}/{model_name}/{stamp}-{pipeline_run_id[:8]}"


def _create_version(
    client: MlflowClient,
    model_name: str,
    destination: str,
    pipeline_run_id: str,
    checksums: dict[str, str],
) -> ModelVersion:
    try:
        client.create_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    # Waiting is done by the caller: if MLflow waited here and timed out, the
    # version number needed to delete the half-made version would be lost.
    return client.create_model_version(
        model_name,
        source=destination,
        run_id=pipeline_run_id,
        tags={
            tracking.STORE_URI_TAG: destination,
            "manifest_sha256": storage.manifest_digest(checksums),
            "files": str(len(checksums)),
        },
        await_creation_for=0,
    )


def _wait_until_ready(client: MlflowClient, version: ModelVersion) -> None:
    ready = ModelVersionStatus.to_string(ModelVersionStatus.READY)
    pending = ModelVersionStatus.to_string(ModelVersionStatus.PENDING_REGISTRATION)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while version.status == pending and time.monotonic() < deadline:
        time.sleep(1.0)
        version = client.get_model_version(version.name, version.version)
    if version.status != ready:
        raise RuntimeError(
            f"model version {version.name}/{version.version} is {version.status}, not {ready}: "
            f"{version.status_message or 'no message'}"
        )


def _roll_back(undo: list[tuple[str, Callable[[], object]]], error: BaseException) -> None:
    """Undo in reverse order; a failing undo is noted on the original error, never replaces it."""
    for description, action in reversed(undo):
        try:
            action()
        except Exception as undo_error:
            error.add_note(f"rollback: could not {description}: {undo_error}")
