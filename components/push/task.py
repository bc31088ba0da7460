"""Push: copy a blessed SavedModel to the model store and make it the registry's champion.

The push is all or nothing. Files go to a fresh, sortable prefix
(`<store>/<model name>/<UTC time>-<run id>`), the manifest last, and are re-read
to check their SHA-256 before MLflow hears of them. Then, holding the model's
champion lock (components/push/lock.py), a model version is created (tag
`push_state=staged`) whose source is that prefix, the `champion` alias is moved
to it, and only then is it tagged `push_state=published`. A failure before the
alias moves deletes the new version and the new files, so readers of
`models:/<name>@champion` only ever see a complete, verified model.

A retry (KFP reruns the step with the same pipeline run) finishes what an earlier
attempt started: a version of the same run with the same manifest digest is
returned if published, and finished if staged with its files intact; it is never
registered twice.

A process killed outright (SIGKILL, a lost node) cannot roll back. Each version
records the lock epoch it was created under; a staged version from an older epoch
belongs to a push that released or lost the lock, so the next holder deletes it and
its files (or marks it published if the alias already moved to it), and a rerun of
the same pipeline run also deletes the unfinished uploads it left.

Two pushes at once: the alias moves by compare-and-set under the lock. A version
becomes champion only if the champion is still the one its evaluate step
compared it against (the pipeline run's `evaluate.champion_version`); otherwise
it stays registered and published but unpromoted, tagged with the reason, since
it was never scored against the newer champion. So the champion is always a
blessed model that beat, on the same rows, the model it replaced.

Each version is tagged with its lineage as validate recorded it (data digest, spec fingerprint, code
version) and described by its model card (components/push/model_card.py), built before any upload and
written before the alias moves: a card that cannot be built or written fails the push, rolled back.
"""

from __future__ import annotations

import logging
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
from components.push.leftovers import (
    LOCK_EPOCH_TAG,
    MANIFEST_TAG,
    PROMOTED,
    PUBLISHED,
    PUSH_STATE_TAG,
    STAGED,
    earlier_attempt,
    still_registered,
    sweep_orphans,
)
from components.push.lock import ChampionLock
from components.push.model_card import ModelCard, build_card, write_card

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 300.0
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
    card_path: Path | None = None,
) -> PushResult:
    """Publish `model_dir` as a version of `model_name`, champion if the gate's baseline still holds.

    `card_path`, when given, receives the version's HTML model card (the KFP component's HTML output).
    """
    client = tracking.client(tracking_uri)
    with tracking.step_run(tracking_uri, pipeline_run_id, "push"):
        if not (model_dir / "saved_model.pb").is_file():
            raise ValueError(f"{model_dir} is not a TensorFlow SavedModel: no saved_model.pb in it")
        baseline = gate_baseline(client, pipeline_run_id)
        card = build_card(client, pipeline_run_id, model_name)
        mlflow.log_params({"model_name": model_name})
        checksums = storage.dir_checksums(model_dir)
        earlier = earlier_attempt(client, model_name, pipeline_run_id, checksums, endpoint_url)
        if earlier is not None and earlier.tags.get(PUSH_STATE_TAG) == PUBLISHED:
            logger.info("pipeline run %s pushed these files before, as version %s", pipeline_run_id, earlier.version)
            version, decision = earlier, earlier.tags.get(tracking.CHAMPION_DECISION_TAG, "")
            if card_path is not None:
                card_path.write_text(card.html(str(version.version)), encoding="utf-8")
        else:
            destination = version_uri(model_store_uri, model_name, pipeline_run_id)
            version, decision = _publish(
                client,
                tracking_uri,
                model_dir,
                model_name,
                destination,
                pipeline_run_id,
                checksums,
                baseline,
                earlier,
                endpoint_url,
                card,
                card_path,
            )
        promoted = decision.startswith(PROMOTED)
        mlflow.log_params({"store_uri": version.source, "model_version": version.version, "champion": promoted})
    tracking.finish_pipeline_run(tracking_uri, pipeline_run_id)
    return PushResult(
        model_version=str(version.version),
        store_uri=version.source,
        files=len(checksums),
        bytes=sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file()),
        champion=promoted,
        decision=decision,
    )


def _publish(
    client: MlflowClient,
    tracking_uri: str,
    model_dir: Path,
    model_name: str,
    destination: str,
    pipeline_run_id: str,
    checksums: dict[str, str],
    baseline: str | None,
    earlier: ModelVersion | None,
    endpoint_url: str | None,
    card: ModelCard,
    card_path: Path | None,
) -> tuple[ModelVersion, str]:
    """Upload to `destination` and register, or finish `earlier` (staged by this run); returns it and the decision."""
    undo: list[tuple[str, Callable[[], object]]] = []
    try:
        if earlier is None:
            _upload(model_dir, destination, checksums, endpoint_url, undo)
        with ChampionLock(tracking_uri, model_name, pipeline_run_id) as lock:
            _ensure_registered_model(client, model_name)
            if earlier is not None:
                earlier = still_registered(client, earlier)
                if earlier is None:  # another push swept it between the look-up and the lock: push afresh
                    _upload(model_dir, destination, checksums, endpoint_url, undo)
            keep = str(earlier.version) if earlier is not None else None
            sweep_orphans(client, model_name, destination, pipeline_run_id, endpoint_url, lock.epoch, keep)
            lock.check()
            if earlier is None:
                version = _create_version(
                    client, model_name, destination, pipeline_run_id, checksums, baseline, lock.epoch, card.lineage_tags
                )
                undo.append(
                    (
                        f"delete model version {model_name}/{version.version}",
                        partial(client.delete_model_version, model_name, version.version),
                    )
                )
            else:
                logger.info("finishing version %s, staged by an earlier attempt of this run", earlier.version)
                version = earlier
                client.set_model_version_tag(model_name, version.version, LOCK_EPOCH_TAG, str(lock.epoch))
            _wait_until_ready(client, version)
            write_card(client, card, version, card_path)
            promote, decision = _champion_decision(client, model_name, str(version.version), baseline)
            if promote:
                lock.check()
                client.set_registered_model_alias(model_name, tracking.CHAMPION_ALIAS, version.version)
            # From here on the version is complete and may be the champion: never roll it back.
            undo.clear()
            client.set_model_version_tag(model_name, version.version, tracking.CHAMPION_DECISION_TAG, decision)
            client.set_model_version_tag(model_name, version.version, PUSH_STATE_TAG, PUBLISHED)
    except BaseException as error:
        _roll_back(undo, error)
        raise
    return version, decision


def _upload(
    model_dir: Path,
    destination: str,
    checksums: dict[str, str],
    endpoint_url: str | None,
    undo: list[tuple[str, Callable[[], object]]],
) -> None:
    undo.append((f"delete {destination}", partial(storage.delete_prefix, destination, endpoint_url)))
    storage.upload_dir(model_dir, destination, endpoint_url)
    storage.verify_dir(destination, checksums, endpoint_url)  # also fails if model_dir changed since it was hashed


def gate_baseline(client: MlflowClient, pipeline_run_id: str) -> str | None:
    """The champion version the gate compared this run's model with ("none": there was none).

    None when the run has no evaluate step on record (push called on its own): then
    the alias moves unconditionally. Refuses a run whose gate recorded `blessed` = 0.
    """
    data = client.get_run(pipeline_run_id).data
    if data.metrics.get("blessed") == 0.0:
        raise NotBlessedError(f"pipeline run {pipeline_run_id} was not blessed by its gate: refusing to push")
    return data.params.get(GATE_BASELINE_PARAM)


def _champion_decision(client: MlflowClient, model_name: str, version: str, baseline: str | None) -> tuple[bool, str]:
    """Compare-and-set: promote only if the champion is still the one the gate compared against."""
    try:
        current = str(client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS).version)
    except MlflowException as error:
        if error.error_code not in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            raise
        current = NO_CHAMPION
    if current == version:
        # Only an earlier attempt of this pipeline run, which staged it, can have moved the alias here.
        return True, f"{PROMOTED}was {baseline or 'not recorded'}; an earlier attempt of this run moved the alias)"
    if baseline is None:
        return True, f"{PROMOTED}was {current}; no gate baseline on record)"
    if baseline == current:
        return True, f"{PROMOTED}was {current}, the version the gate compared it with)"
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
    epoch: int,
    lineage: dict[str, str],
) -> ModelVersion:
    # Waiting is done by the caller: if MLflow waited here and timed out, the
    # version number needed to delete the half-made version would be lost.
    return client.create_model_version(
        model_name,
        source=destination,
        run_id=pipeline_run_id,
        tags={
            tracking.STORE_URI_TAG: destination,
            MANIFEST_TAG: storage.manifest_digest(checksums),
            "files": str(len(checksums)),
            PUSH_STATE_TAG: STAGED,
            EVALUATED_AGAINST_TAG: baseline or "not recorded",
            LOCK_EPOCH_TAG: str(epoch),
            **lineage,
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
