"""What earlier pushes left in the registry and the store: this run's earlier attempt, to finish,
and dead pushes' staged versions and uploads, to sweep. Also the version tags push writes."""

from __future__ import annotations

import logging

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking
from components.push import serving_layout

logger = logging.getLogger(__name__)

PUSH_STATE_TAG = "push_state"
STAGED = "staged"
PUBLISHED = "published"
MANIFEST_TAG = "manifest_sha256"
# The champion lock's epoch a version was created (or finished) under: the sweep's proof that its push is over.
LOCK_EPOCH_TAG = "lock_epoch"
# The champion lock's epoch under which a version's alias move was proven (components/push/alias_move.py).
PROMOTED_EPOCH_TAG = "promoted_lock_epoch"
# Every champion_decision of a promoted version starts so; the others start "not promoted".
PROMOTED = "champion ("


def earlier_attempt(
    client: MlflowClient, model_name: str, pipeline_run_id: str, checksums: dict[str, str], endpoint_url: str | None
) -> ModelVersion | None:
    """The version an earlier attempt of this pipeline run registered for the same files, if any.

    A published one is done. A staged one is worth finishing only if its files are intact
    (a rollback cut off from the registry deletes the files but not the version); else the sweep removes it.
    """
    digest = storage.manifest_digest(checksums)
    found = client.search_model_versions(f"name = '{model_name}' and run_id = '{pipeline_run_id}'")
    same = [version for version in found if version.tags.get(MANIFEST_TAG) == digest]
    same.sort(key=lambda v: (v.tags.get(PUSH_STATE_TAG) == PUBLISHED, int(v.version)), reverse=True)
    for version in same:
        if version.tags.get(PUSH_STATE_TAG) == PUBLISHED:
            return version
        try:
            storage.verify_dir(version.source, checksums, endpoint_url)
            return version
        except storage.ChecksumMismatchError as error:
            logger.warning(
                "version %s of pipeline run %s cannot be finished: %s", version.version, pipeline_run_id, error
            )
    return None


def still_registered(client: MlflowClient, version: ModelVersion) -> ModelVersion | None:
    """`version` as the registry has it now; None once deleted."""
    try:
        return client.get_model_version(version.name, version.version)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None


def sweep_orphans(
    client: MlflowClient,
    model_name: str,
    destination: str,
    pipeline_run_id: str,
    endpoint_url: str | None,
    epoch: int,
    keep: str | None = None,
) -> list[str]:
    """Delete what dead pushes left; call holding lock epoch `epoch`. Returns what was removed.

    Only versions staged under an older epoch are touched: their holder released or lost the
    lock, so their push is dead or rolls itself back at its next check. A live holder's versions
    (its epoch is this one or newer) and `keep` (the version this push finishes) are left alone.
    A staged version without an alias died before its alias moved: it, its files and any serving copy
    of them (components/push/serving_layout.py) go, and so do unfinished serving copies. One
    that holds an alias died just after moving it: it is complete, so it is marked published.
    Unfinished uploads of this pipeline run (earlier attempts, never registered) go too; other
    runs' uploads may be in flight.
    """
    removed = []
    live_sources = set()
    # Search results carry no aliases: the registered model has them all.
    aliased = {str(v) for v in client.get_registered_model(model_name).aliases.values()}
    for version in client.search_model_versions(f"name = '{model_name}'"):
        live_sources.add(version.source)
        if version.tags.get(PUSH_STATE_TAG) != STAGED or str(version.version) == keep:
            continue
        if int(version.tags.get(LOCK_EPOCH_TAG, "-1")) >= epoch:
            continue
        if str(version.version) in aliased:
            if tracking.CHAMPION_DECISION_TAG not in version.tags:
                decision = f"{PROMOTED}its push stopped just after moving the alias)"
                client.set_model_version_tag(model_name, version.version, tracking.CHAMPION_DECISION_TAG, decision)
            client.set_model_version_tag(model_name, version.version, PUSH_STATE_TAG, PUBLISHED)
            continue
        # The version first: no version may point at deleted files, even if this sweep is killed half-way.
        client.delete_model_version(model_name, version.version)
        storage.delete_prefix(version.source, endpoint_url)
        storage.delete_prefix(serving_layout.serving_uri(version.source, str(version.version)), endpoint_url)
        removed.append(f"model version {model_name}/{version.version} and {version.source}")
    removed += serving_layout.sweep_partials(destination, endpoint_url)
    model_root, own_folder = destination.rsplit("/", 1)
    run_suffix = own_folder.rsplit("-", 1)[1]
    for folder in storage.list_prefixes(model_root, endpoint_url):
        uri = f"{model_root}/{folder}"
        if folder != own_folder and folder.endswith(f"-{run_suffix}") and uri not in live_sources:
            storage.delete_prefix(uri, endpoint_url)
            removed.append(uri)
    for item in removed:
        logger.warning("removed what a dead push left: %s", item)
    return removed
