"""Push: copy a blessed SavedModel to the model store and make it the registry's champion.

The push is all or nothing. Files go to a fresh, sortable prefix
(`<store>/<model name>/<UTC time>-<run id>`), the manifest last, and are re-read
to check their SHA-256 before MLflow hears of them. Then, holding the model's
champion lock, a model version is created (tag `push_state=staged`) whose source
is that prefix, the `champion` alias is moved to it, and only then is it tagged
`push_state=published`. A failure before the alias moves deletes the new version
and the new files, so readers of `models:/<name>@champion` only ever see a
complete, verified model.

A process killed outright (SIGKILL, a lost node) cannot roll back. Since versions
are only created under the lock, a staged version found by the next push holding
the lock belongs to a dead push: that push deletes it and its files, and a rerun
of the same pipeline run also deletes the unfinished uploads it left.

Two pushes at once: the alias moves by compare-and-set under the lock. A version
becomes champion only if the champion is still the one its evaluate step
compared it against (the pipeline run's `evaluate.champion_version`); otherwise
it stays registered and published but unpromoted, tagged with the reason, since
it was never scored against the newer champion. So the champion is always a
blessed model that beat, on the same rows, the model it replaced.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import mlflow
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 300.0
# The lock is held for registering and moving the alias only (seconds), at most READY_TIMEOUT_S
# plus a little; a lock older than that was left by a killed push and is taken over.
LOCK_STALE_S = READY_TIMEOUT_S + 60.0
LOCK_WAIT_S = LOCK_STALE_S + 60.0
LOCK_SUFFIX = ".champion-lock"
LOCK_HOLDER_TAG = "holder"
PUSH_STATE_TAG = "push_state"
STAGED = "staged"
PUBLISHED = "published"
EVALUATED_AGAINST_TAG = "evaluated_against"
# Where evaluate records, on the pipeline's run, which champion the candidate was compared with.
GATE_BASELINE_PARAM = "evaluate.champion_version"
NO_CHAMPION = "none"


class NotBlessedError(RuntimeError):
    """The pipeline run's gate did not bless its model; push refuses it."""


@dataclass(frozen=True)
class PushResult:
    model_version: str
    store_uri: str
    files: int
    bytes: int
    champion: bool
    decision: str


def push_model(
    model_dir: Path,
    model_store_uri: str,
    model_name: str,
    tracking_uri: str,
    pipeline_run_id: str,
    endpoint_url: str | None = None,
) -> PushResult:
    """Publish `model_dir` as a new version of `model_name`, champion if the gate's baseline still holds."""
    destination = version_uri(model_store_uri, model_name, pipeline_run_id)
    client = tracking.client(tracking_uri)
    with tracking.step_run(tracking_uri, pipeline_run_id, "push"):
        if not (model_dir / "saved_model.pb").is_file():
            raise ValueError(f"{model_dir} is not a TensorFlow SavedModel: no saved_model.pb in it")
        baseline = gate_baseline(client, pipeline_run_id)
        mlflow.log_params({"model_name": model_name, "store_uri": destination})
        undo = [(f"delete {destination}", partial(storage.delete_prefix, destination, endpoint_url))]
        try:
            checksums = storage.upload_dir(model_dir, destination, endpoint_url)
            storage.verify_dir(destination, checksums, endpoint_url)
            with champion_lock(client, model_name, pipeline_run_id):
                _ensure_registered_model(client, model_name)
                sweep_orphans(client, model_name, destination, pipeline_run_id, endpoint_url)
                version = _create_version(client, model_name, destination, pipeline_run_id, checksums, baseline)
                undo.append(
                    (
                        f"delete model version {model_name}/{version.version}",
                        partial(client.delete_model_version, model_name, version.version),
                    )
                )
                _wait_until_ready(client, version)
                mlflow.log_params({"model_version": version.version})
                promote, decision = _champion_decision(client, model_name, version.version, baseline)
                if promote:
                    client.set_registered_model_alias(model_name, tracking.CHAMPION_ALIAS, version.version)
                # From here on the version is complete and may be the champion: never roll it back.
                undo.clear()
                client.set_model_version_tag(model_name, version.version, tracking.CHAMPION_DECISION_TAG, decision)
                client.set_model_version_tag(model_name, version.version, PUSH_STATE_TAG, PUBLISHED)
        except BaseException as error:
            _roll_back(undo, error)
            raise
        mlflow.log_params({"champion": promote})
    tracking.finish_pipeline_run(tracking_uri, pipeline_run_id)
    return PushResult(
        model_version=str(version.version),
        store_uri=destination,
        files=len(checksums),
        bytes=sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file()),
        champion=promote,
        decision=decision,
    )


def gate_baseline(client: MlflowClient, pipeline_run_id: str) -> str | None:
    """The champion version the gate compared this run's model with ("none": there was none).

    None when the run has no evaluate step on record (push called on its own): then
    the alias moves unconditionally. Refuses a run whose gate recorded `blessed` = 0.
    """
    data = client.get_run(pipeline_run_id).data
    if data.metrics.get("blessed") == 0.0:
        raise NotBlessedError(f"pipeline run {pipeline_run_id} was not blessed by its gate: refusing to push")
    return data.params.get(GATE_BASELINE_PARAM)


@contextmanager
def champion_lock(client: MlflowClient, model_name: str, holder: str) -> Iterator[None]:
    """Registry-wide mutual exclusion for one model: a registered model named `<model>.champion-lock`.

    Creating a registered model is atomic in every MLflow backend (unique name), so
    exactly one push holds it. A lock left by an earlier attempt of the same
    pipeline run, or older than LOCK_STALE_S, belongs to a dead push and is taken over.
    """
    name = f"{model_name}{LOCK_SUFFIX}"
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            client.create_registered_model(
                name, tags={LOCK_HOLDER_TAG: holder}, description=f"held while a push moves {model_name}'s champion"
            )
            break
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        held = _existing_lock(client, name)
        if held is not None:
            age_s = time.time() - held.creation_timestamp / 1000
            if held.tags.get(LOCK_HOLDER_TAG) == holder or age_s > LOCK_STALE_S:
                logger.warning("taking over %s from %s (%.0f s old)", name, held.tags.get(LOCK_HOLDER_TAG), age_s)
                _delete_lock(client, name)
                continue
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"registered model {name!r} (the champion lock) is still held by pipeline run "
                f"{held.tags.get(LOCK_HOLDER_TAG) if held else '?'} after {LOCK_WAIT_S:.0f} s"
            )
        time.sleep(random.uniform(0.1, 0.5))
    try:
        yield
    finally:
        _delete_lock(client, name)


def _existing_lock(client: MlflowClient, name: str) -> RegisteredModel | None:
    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None  # released in between
        raise


def _delete_lock(client: MlflowClient, name: str) -> None:
    try:
        client.delete_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def sweep_orphans(
    client: MlflowClient, model_name: str, destination: str, pipeline_run_id: str, endpoint_url: str | None
) -> list[str]:
    """Delete what killed pushes left; call holding the champion lock. Returns what was removed.

    A staged version without an alias died before its alias decision: it and its
    files go. One that holds an alias died just after moving it: it is complete,
    so it is marked published. Unfinished uploads of this pipeline run (earlier
    attempts, never registered) go too; other runs' uploads may be in flight.
    """
    removed = []
    live_sources = set()
    # Search results carry no aliases: the registered model has them all.
    aliased = {str(v) for v in client.get_registered_model(model_name).aliases.values()}
    for version in client.search_model_versions(f"name = '{model_name}'"):
        live_sources.add(version.source)
        if version.tags.get(PUSH_STATE_TAG) != STAGED:
            continue
        if str(version.version) in aliased:
            client.set_model_version_tag(model_name, version.version, PUSH_STATE_TAG, PUBLISHED)
            continue
        storage.delete_prefix(version.source, endpoint_url)
        client.delete_model_version(model_name, version.version)
        removed.append(f"model version {model_name}/{version.version} and {version.source}")
    model_root, own_folder = destination.rsplit("/", 1)
    run_suffix = own_folder.rsplit("-", 1)[1]
    for folder in storage.list_prefixes(model_root, endpoint_url):
        uri = f"{model_root}/{folder}"
        if folder != own_folder and folder.endswith(f"-{run_suffix}") and uri not in live_sources:
            storage.delete_prefix(uri, endpoint_url)
            removed.append(uri)
    for item in removed:
        logger.warning("removed what a killed push left: %s", item)
    return removed


def _champion_decision(client: MlflowClient, model_name: str, version: str, baseline: str | None) -> tuple[bool, str]:
    """Compare-and-set: promote only if the champion is still the one the gate compared against."""
    try:
        current = str(client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS).version)
    except MlflowException as error:
        if error.error_code not in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            raise
        current = NO_CHAMPION
    if baseline is None:
        return True, f"champion (was {current}; no gate baseline on record)"
    if baseline == current:
        return True, f"champion (was {current}, the version the gate compared it with)"
    return False, (
        f"not promoted: the gate compared it with champion {baseline}, but the champion is now {current}; "
        f"evaluate it again to challenge {current}"
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


def _ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    try:
        client.create_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _create_version(
    client: MlflowClient,
    model_name: str,
    destination: str,
    pipeline_run_id: str,
    checksums: dict[str, str],
    baseline: str | None,
) -> ModelVersion:
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
            PUSH_STATE_TAG: STAGED,
            EVALUATED_AGAINST_TAG: baseline or "not recorded",
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
