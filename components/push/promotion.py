"""Which version is champion after a push: the alias's compare-and-set decision, and the TensorFlow Serving
copy that only a champion gets (components/push/serving_layout.py), written after the alias moved and
written again for a champion whose push died between the two. push_model calls these under the lock.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from components.common import tracking
from components.push import serving_layout
from components.push.alias_move import NO_CHAMPION
from components.push.leftovers import MANIFEST_TAG, PROMOTED
from components.push.lock import ChampionLock

logger = logging.getLogger(__name__)


def restore_serving_copy(client: MlflowClient, model_name: str, champion: str, endpoint_url: str | None) -> None:
    """The champion's serving copy, written again if its push died between moving the alias and copying."""
    version = client.get_model_version(model_name, champion)
    digest = version.tags.get(MANIFEST_TAG)
    if digest is None:
        logger.warning("champion %s/%s has no %s tag: push did not publish it", model_name, champion, MANIFEST_TAG)
    elif serving_layout.restore(version.source, champion, digest, endpoint_url):
        logger.warning("champion %s/%s lacked its serving copy: copied it from its own folder", model_name, champion)


def write_serving_copy(
    lock: ChampionLock,
    client: MlflowClient,
    model_dir: Path,
    version: ModelVersion,
    previous: str,
    checksums: dict[str, str],
    endpoint_url: str | None,
    undo: list[tuple[str, Callable[[], object]]],
) -> None:
    """Write the new champion's serving copy; if that fails (leaving no folder), move the alias back to `previous`
    under the lock so the push rolls back whole, else keep the version, champion, for its rerun to finish."""
    try:
        serving_layout.write(
            model_dir, serving_layout.serving_uri(version.source, version.version), checksums, endpoint_url
        )
    except BaseException as error:
        if previous == str(version.version):  # an earlier attempt of this run moved the alias
            raise
        try:
            lock.check()
            if previous == NO_CHAMPION:
                client.delete_registered_model_alias(version.name, tracking.CHAMPION_ALIAS)
            else:
                client.set_registered_model_alias(version.name, tracking.CHAMPION_ALIAS, previous)
        except Exception as undo_error:
            error.add_note(
                f"rollback: could not move the alias back to {previous}, so {version.version} stays: {undo_error}"
            )
            undo.clear()
        raise


def champion_decision(current: str, version: str, baseline: str | None) -> tuple[bool, str]:
    """Compare-and-set: promote only if the champion (`current`) is still the one the gate compared against."""
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
