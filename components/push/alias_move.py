"""Moving the champion alias under the champion lock, proven after the write.

Why a late write cannot overwrite another holder's champion: the alias can only point at a version
that exists, and the version a push promotes stays `push_state=staged`, tagged with its lock epoch, until
its alias move is proven. A later holder deletes every staged version of an older epoch that holds no
alias before it decides anything (components/push/leftovers.py), so a write that lands after a takeover
either lands before that sweep (the sweep sees the alias, and the new holder, finding a champion its
gate never saw, does not promote) or fails on a deleted version. The lock's bounded client
(components/push/lock.py) also gives up on every call before the lease can run out.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import tracking
from components.push.leftovers import PROMOTED_EPOCH_TAG
from components.push.lock import ChampionLock, LockLostError

NO_CHAMPION = "none"


def move_champion(client: MlflowClient, lock: ChampionLock, model_name: str, version: str, previous: str) -> None:
    """Point the champion alias at `version` (it was `previous`), then read it back with the lock still held.

    If the lock was lost meanwhile, the alias goes back to `previous` when it still points at `version`
    and LockLostError is raised (the push then rolls `version` back). The version records the epoch.
    """
    lock.check()
    client.set_registered_model_alias(model_name, tracking.CHAMPION_ALIAS, version)
    try:
        lock.check()
        landed = current_champion(client, model_name)
        if landed != version:
            raise LockLostError(f"the champion alias of {model_name} points at {landed}, not at {version}")
    except LockLostError:
        undo = tracking.client(lock.tracking_uri)  # not bounded by a lease that is over
        if current_champion(undo, model_name) == version:
            if previous == NO_CHAMPION:
                undo.delete_registered_model_alias(model_name, tracking.CHAMPION_ALIAS)
            else:
                undo.set_registered_model_alias(model_name, tracking.CHAMPION_ALIAS, previous)
        raise
    client.set_model_version_tag(model_name, version, PROMOTED_EPOCH_TAG, str(lock.epoch))


def current_champion(client: MlflowClient, model_name: str) -> str:
    try:
        return str(client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS).version)
    except MlflowException as error:
        if error.error_code not in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            raise
        return NO_CHAMPION
