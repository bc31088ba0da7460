"""The registry calls push makes for one version: where its files go, its registered model, the version
itself with its tags, the wait until MLflow reports it READY, and its link to the logged model.

A version's source stays its folder in the model store (evaluate, the sweep and KServe read it). The
logged model it was made from is named by the version's `logged_model` tag, and the logged model lists
the version in `mlflow.modelVersions`, the tag MLflow's UI reads (`mlflow.register_model` writes it so);
MLflow's SQL registry does not keep create_model_version's model_id itself.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking
from components.push.blessing import Blessing
from components.push.leftovers import LOCK_EPOCH_TAG, MANIFEST_TAG, PUSH_STATE_TAG, STAGED
from components.push.model_card import ModelCard

READY_TIMEOUT_S = 300.0
EVALUATED_AGAINST_TAG = "evaluated_against"
LOGGED_MODEL_TAG = "logged_model"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"


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


def ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    try:
        client.create_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def create_version(
    client: MlflowClient,
    model_name: str,
    destination: str,
    pipeline_run_id: str,
    checksums: dict[str, str],
    blessing: Blessing,
    epoch: int,
    card: ModelCard,
    model_id: str | None,
) -> ModelVersion:
    # Waiting is done by the caller: if MLflow waited here and timed out, the
    # version number needed to delete the half-made version would be lost.
    return client.create_model_version(
        model_name,
        source=destination,
        run_id=pipeline_run_id,
        model_id=model_id,
        tags={
            tracking.STORE_URI_TAG: destination,
            MANIFEST_TAG: storage.manifest_digest(checksums),
            "files": str(len(checksums)),
            PUSH_STATE_TAG: STAGED,
            EVALUATED_AGAINST_TAG: blessing.baseline or "not recorded",
            **blessing.tags,
            LOCK_EPOCH_TAG: str(epoch),
            **({LOGGED_MODEL_TAG: model_id} if model_id else {}),
            **card.lineage_tags,
        },
        await_creation_for=0,
    )


def wait_until_ready(client: MlflowClient, version: ModelVersion) -> None:
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


def link_logged_model(client: MlflowClient, model_id: str | None, model_name: str, version: str) -> None:
    """List the version on its logged model (once, so a retry may call it again)."""
    if model_id is None:
        return
    listed = json.loads(client.get_logged_model(model_id).tags.get(MODEL_VERSIONS_TAG, "[]"))
    entry = {"name": model_name, "version": str(version)}
    if entry not in listed:
        client.set_logged_model_tags(model_id, {MODEL_VERSIONS_TAG: json.dumps([*listed, entry])})
