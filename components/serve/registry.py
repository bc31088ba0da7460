"""The registry side of serving: which version to serve, and rollback of the champion alias.

The previous champion of a version is the newest older version that push promoted (its
champion_decision starts "champion (") and that no rollback has retired since. Rolling back moves the
`champion` alias to it under the champion lock (so no push moves the alias meanwhile), tags the retired
version with why, and removes its TensorFlow Serving copy, so that the newest folder under
`<model>/serving/` is the champion's again (components/push/serving_layout.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from components.common import storage, tracking
from components.push.leftovers import PROMOTED, PUBLISHED, PUSH_STATE_TAG
from components.push.lock import ChampionLock
from components.push.serving_layout import serving_root, serving_uri

ROLLED_BACK_TAG = "rolled_back"
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


def roll_back(tracking_uri: str, model_name: str, reason: str, endpoint_url: str | None = None) -> tuple[str, str]:
    """Move the champion alias back to the previous champion; returns (retired version, restored version)."""
    holder = f"rollback-{uuid.uuid4().hex[:12]}"
    with ChampionLock(tracking_uri, model_name, holder) as lock:
        champion = resolve(tracking_uri, model_name)
        previous = previous_champion(tracking_uri, champion)
        client = tracking.client(tracking_uri)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        note = f"rolled back to version {previous.version} at {stamp}: {reason}"
        lock.check()
        client.set_model_version_tag(model_name, champion.version, ROLLED_BACK_TAG, note)
        client.set_registered_model_alias(model_name, tracking.CHAMPION_ALIAS, previous.version)
        storage.delete_prefix(serving_uri(champion.source, champion.version), endpoint_url)
    return champion.version, previous.version
