"""The registry side of serving: which version to serve, and rollback of the champion alias.

The previous champion of a version is the newest older version that push promoted (its
champion_decision starts "champion (") and that no rollback has retired since. Rolling back names the
version it retires and moves the `champion` alias from it to the previous champion under the champion
lock (so no push moves the alias meanwhile), tags the retired version with why, and removes its
TensorFlow Serving copy, so that the newest folder under `<model>/serving/` is the champion's again
(components/push/serving_layout.py). A deploy's outcome is a tag of its version (DEPLOY_OUTCOME_TAG).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from components.common import storage, tracking
from components.common.model_names import check_model_name
from components.push.alias_move import move_champion
from components.push.leftovers import PROMOTED, PUBLISHED, PUSH_STATE_TAG
from components.push.lock import ChampionLock
from components.push.serving_layout import serving_root, serving_uri

ROLLED_BACK_TAG = "rolled_back"
# How the last deploy of a version ended, so that a retried deploy step ends the same way.
DEPLOY_OUTCOME_TAG = "deploy_outcome"
OUTCOME_FAILED, OUTCOME_SERVED = "failed: ", "served at "
_MISSING = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class ServingError(RuntimeError):
    """What a serving verb cannot do, in one line that says why and what to do."""


@dataclass(frozen=True)
class ServedVersion:
    """A published version: its number, its MLflow model's folder and the TensorFlow Serving base path."""

    name: str
    version: str
    source: str
    run_id: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def serving_root(self) -> str:
        return serving_root(self.source)


def _served(version: ModelVersion) -> ServedVersion:
    return ServedVersion(version.name, str(version.version), version.source, version.run_id)


def resolve(tracking_uri: str, model_name: str, version: str = "") -> ServedVersion:
    """Version `version` of `model_name`, or its champion when `version` is empty."""
    check_model_name(model_name)
    client = tracking.client(tracking_uri)
    try:
        found = (
            client.get_model_version(model_name, version)
            if version
            else client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS)
        )
    except MlflowException as error:
        if error.error_code not in _MISSING:
            raise
        what = f"version {version}" if version else f"{tracking.CHAMPION_ALIAS!r} version"
        raise ServingError(f"model {model_name!r} has no {what} at {tracking_uri}: run `make run` first") from None
    if found.tags.get(PUSH_STATE_TAG) != PUBLISHED:
        raise ServingError(f"{model_name} version {found.version} is not published (push_state "
                           f"{found.tags.get(PUSH_STATE_TAG)!r}): a push is finishing it or died")  # fmt: skip
    return _served(found)


def variant_of(tracking_uri: str, served: ServedVersion, variant: str) -> ServedVersion:
    """Variant `variant` of a served version (issue 26): its own MLflow model beside the version's files,
    served under the name `<model>-<variant>`; refused, naming the version's variants, when it has none such."""
    tags = tracking.client(tracking_uri).get_model_version(served.name, served.version).tags
    uri = tags.get(f"variant.{variant}.uri")
    if not uri:
        refused = tags.get(f"variant.{variant}.refused")
        why = f"it was refused: {refused}" if refused else f"its variants: {tags.get('variants') or 'none'}"
        raise ServingError(f"{served.name} version {served.version} has no variant {variant!r} ({why})")
    return ServedVersion(f"{served.name}-{variant}", served.version, uri, served.run_id)


def previous_champion(tracking_uri: str, champion: ServedVersion) -> ServedVersion:
    """The champion before `champion`: the newest older version that was promoted and not rolled back."""
    client = tracking.client(tracking_uri)
    older = [
        version
        for version in client.search_model_versions(f"name = '{champion.name}'")
        if int(version.version) < int(champion.version)
        and version.tags.get(tracking.CHAMPION_DECISION_TAG, "").startswith(PROMOTED)
        and ROLLED_BACK_TAG not in version.tags
        and version.tags.get(PUSH_STATE_TAG) == PUBLISHED
    ]
    if not older:
        raise ServingError(f"{champion.name} version {champion.version} has no earlier champion to roll back to")
    return _served(max(older, key=lambda version: int(version.version)))


def roll_back(
    tracking_uri: str, model_name: str, from_version: str, reason: str, endpoint_url: str | None = None
) -> tuple[str, str]:
    """Retire the champion `from_version` for the previous champion; returns (retired, restored) versions.

    Compare-and-set under the champion lock: when the champion is no longer `from_version` (a push promoted
    another since), it refuses and changes nothing, so that it never retires a version it was not told to.
    """
    holder = f"rollback-{uuid.uuid4().hex[:12]}"
    with ChampionLock(tracking_uri, model_name, holder) as lock:
        champion = resolve(tracking_uri, model_name)
        refuse_unless_champion(champion, from_version)
        previous = previous_champion(tracking_uri, champion)
        client = lock.bounded(tracking.client(tracking_uri))  # no call under the lock outlives its lease
        note = f"rolled back to version {previous.version} at {_now()}: {reason}"
        lock.check()
        client.set_model_version_tag(model_name, champion.version, ROLLED_BACK_TAG, note)
        # The retired copy goes first: a kill after it leaves TensorFlow Serving on the restored version's
        # copy (the newest left), never on the retired one while the alias already names the restored one.
        storage.delete_prefix(serving_uri(champion.source, champion.version), endpoint_url)
        move_champion(client, lock, model_name, previous.version, champion.version)
    return champion.version, previous.version


def refuse_unless_champion(champion: ServedVersion, from_version: str) -> None:
    if champion.version != from_version:
        raise ServingError(
            f"refusing to roll back version {from_version} of {champion.name}: the champion is version "
            f"{champion.version} (FROM names the version to retire)"
        )


def deploy_outcome(tracking_uri: str, model_name: str, version: str) -> tuple[str, str]:
    """(the recorded outcome of deploying `version`, its rollback note); "" where there is none."""
    try:
        tags = tracking.client(tracking_uri).get_model_version(model_name, version).tags
    except MlflowException as error:
        if error.error_code not in _MISSING:
            raise
        raise ServingError(f"model {model_name!r} has no version {version} at {tracking_uri}") from None
    return tags.get(DEPLOY_OUTCOME_TAG, ""), tags.get(ROLLED_BACK_TAG, "")


def record_deploy_outcome(tracking_uri: str, model_name: str, version: str, outcome: str) -> str:
    """Tag `version` with how its deploy ended (OUTCOME_FAILED or OUTCOME_SERVED first); returns the tag."""
    if not outcome.startswith((OUTCOME_FAILED, OUTCOME_SERVED)):
        raise ValueError(f"a deploy outcome starts {OUTCOME_FAILED!r} or {OUTCOME_SERVED!r}, got {outcome!r}")
    tracking.client(tracking_uri).set_model_version_tag(model_name, version, DEPLOY_OUTCOME_TAG, outcome[:4000])
    return outcome


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
