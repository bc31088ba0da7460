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

What is uploaded is an MLflow model (components/push/published_model.py): the SavedModel with MLmodel
beside it, so `mlflow.pyfunc.load_model("models:/<name>@champion")` loads the version's files, and the
version points at the logged model train made. A version that becomes champion is also copied to
the TensorFlow Serving layout `<store>/<model>/serving/<version>/` (components/push/serving_layout.py)
only once the alias moved to it (a failed copy moves the alias back); a push that does not promote
restores the champion's copy if a push killed between the two left none. Push refuses a model its own
gate did not bless (components/push/blessing.py) unless `force_push` covers a run without an evaluate step.

Each version is tagged with its lineage as validate recorded it (data digest, spec fingerprint, code
version) and described by its model card (components/push/model_card.py), built before any upload and
written before the alias moves: a card that cannot be built or written fails the push, rolled back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from components.common import storage, tracking
from components.common.model_names import check_model_name
from components.push import registration
from components.push.alias_move import NO_CHAMPION, current_champion, move_champion
from components.push.blessing import Blessing, required_blessing
from components.push.blessing import NotBlessedError as NotBlessedError  # raised by push_model
from components.push.leftovers import (
    LOCK_EPOCH_TAG,
    PROMOTED,
    PUBLISHED,
    PUSH_STATE_TAG,
    earlier_attempt,
    still_registered,
    sweep_orphans,
)
from components.push.lock import ChampionLock
from components.push.model_card import ModelCard, build_card, write_card
from components.push.promotion import champion_decision, restore_serving_copy, write_serving_copy
from components.push.published_model import logged_model_id
from components.runs import step_runs

logger = logging.getLogger(__name__)


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
    force_push: bool = False,
) -> PushResult:
    """Publish `model_dir` as a version of `model_name`, champion if the gate's baseline still holds.

    `card_path`, when given, receives the version's HTML model card (the KFP component's HTML output).
    `force_push` pushes a pipeline run that has no evaluate step on record; it never overrides a gate.
    """
    check_model_name(model_name)  # it becomes the store prefix; refused before anything is written
    client = tracking.client(tracking_uri)
    with step_runs.step_run(tracking_uri, pipeline_run_id, "push"):
        if not (model_dir / "saved_model.pb").is_file():
            raise ValueError(f"{model_dir} is not a TensorFlow SavedModel: no saved_model.pb in it")
        model_id = logged_model_id(client, model_dir)
        mlflow.log_params({"model_name": model_name, "force_push": force_push})
        blessing = required_blessing(client, pipeline_run_id, force_push)
        card = build_card(client, pipeline_run_id, model_name)
        checksums = storage.dir_checksums(model_dir)
        earlier = earlier_attempt(client, model_name, pipeline_run_id, checksums, endpoint_url)
        if earlier is not None and earlier.tags.get(PUSH_STATE_TAG) == PUBLISHED:
            logger.info("pipeline run %s pushed these files before, as version %s", pipeline_run_id, earlier.version)
            version, decision = earlier, earlier.tags.get(tracking.CHAMPION_DECISION_TAG, "")
            registration.link_logged_model(client, model_id, model_name, str(version.version))
            if card_path is not None:
                card_path.write_text(card.html(str(version.version)), encoding="utf-8")
        else:
            destination = registration.version_uri(model_store_uri, model_name, pipeline_run_id)
            version, decision = _publish(
                client,
                tracking_uri,
                model_dir,
                model_id,
                model_name,
                destination,
                pipeline_run_id,
                checksums,
                blessing,
                earlier,
                endpoint_url,
                card,
                card_path,
            )
        promoted = decision.startswith(PROMOTED)
        mlflow.log_params({"store_uri": version.source, "model_version": version.version, "champion": promoted})
    step_runs.finish_pipeline_run(tracking_uri, pipeline_run_id)
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
    model_id: str | None,
    model_name: str,
    destination: str,
    pipeline_run_id: str,
    checksums: dict[str, str],
    blessing: Blessing,
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
            client = lock.bounded(client)  # no call under the lock outlives its lease
            registration.ensure_registered_model(client, model_name)
            if earlier is not None:
                earlier = still_registered(client, earlier)
                if earlier is None:  # another push swept it between the look-up and the lock: push afresh
                    _upload(model_dir, destination, checksums, endpoint_url, undo)
            keep = str(earlier.version) if earlier is not None else None
            lock.check()  # only a holder sweeps
            sweep_orphans(client, model_name, destination, pipeline_run_id, endpoint_url, lock.epoch, keep)
            lock.check()
            if earlier is None:
                version = registration.create_version(
                    client, model_name, destination, pipeline_run_id, checksums, blessing, lock.epoch, card, model_id
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
            registration.wait_until_ready(client, version)
            write_card(client, card, version, card_path)
            current = current_champion(client, model_name)
            promote, decision = champion_decision(current, str(version.version), blessing.baseline)
            if promote:
                move_champion(client, lock, model_name, str(version.version), current)
                # Only now that it is champion may TensorFlow Serving see it.
                write_serving_copy(lock, client, model_dir, version, current, checksums, endpoint_url, undo)
            elif current != NO_CHAMPION:
                restore_serving_copy(client, model_name, current, endpoint_url)
            # From here on the version is complete and may be the champion: never roll it back.
            undo.clear()
            client.set_model_version_tag(model_name, version.version, tracking.CHAMPION_DECISION_TAG, decision)
            registration.link_logged_model(client, model_id, model_name, str(version.version))
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


def _roll_back(undo: list[tuple[str, Callable[[], object]]], error: BaseException) -> None:
    """Undo in reverse order; a failing undo is noted on the original error, never replaces it."""
    for description, action in reversed(undo):
        try:
            action()
        except Exception as undo_error:
            error.add_note(f"rollback: could not {description}: {undo_error}")
