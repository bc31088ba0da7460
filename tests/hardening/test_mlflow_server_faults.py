"""A real `mlflow server` (127.0.0.1, SQLite behind it) that becomes unreachable in the middle of a push.

The server runs once per module; a TCP cable in front of it is unplugged to make it
unreachable (connections refused and reset), as when it dies or the network drops.
The model store is S3 (moto): a tracking server accepts no local path as a version's source.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from hardening_helpers import Cable, assert_registry_sound, champion_version, live_versions, new_pipeline_run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import tracking
from components.push.task import push_model

pytestmark = [pytest.mark.hardening, pytest.mark.slow]


def _store_folders(s3_endpoint: str, store: str, model_name: str) -> set[str]:
    bucket, prefix = store.removeprefix("s3://").split("/", 1)
    pages = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/{model_name}/", Delimiter="/"
    )
    return {item["Prefix"].rstrip("/").rsplit("/", 1)[1] for item in pages.get("CommonPrefixes", [])} - {"serving"}


def test_server_lost_after_registration_fails_clearly_and_a_rerun_cleans_up(
    saved_model: Path,
    mlflow_cable: Cable,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, store, model = mlflow_cable.uri, f"s3://{bucket}/models", f"served-{uuid.uuid4().hex[:6]}"
    first = push_model(saved_model, store, model, uri, new_pipeline_run(uri, "none"), s3_endpoint)
    run = new_pipeline_run(uri, champion_seen_by_gate=first.model_version)
    real_create = MlflowClient.create_model_version

    def create_then_lose_the_server(self: MlflowClient, name: str, *args: Any, **kwargs: Any) -> Any:
        version = real_create(self, name, *args, **kwargs)
        if name == model:  # not the champion lock's claim, itself a version (of push.lock.LOCKS_MODEL)
            mlflow_cable.unplug()  # the worst moment: a version exists, the alias has not moved
        return version

    monkeypatch.setattr(MlflowClient, "create_model_version", create_then_lose_the_server)
    started = time.monotonic()
    with pytest.raises(MlflowException, match=rf"{uri}/api/.*Max retries exceeded"):
        push_model(saved_model, store, model, uri, run, s3_endpoint)
    # Bounded by tracking.HTTP_RETRY_DEFAULTS: each failing call gives up within ~10 s, not minutes.
    assert time.monotonic() - started < 120
    monkeypatch.undo()

    mlflow_cable.plug()
    left = live_versions(uri, model)
    assert champion_version(uri, model) == first.model_version  # the alias never moved
    assert [tags["push_state"] for version, tags in left.items() if version != first.model_version] == ["staged"]

    rerun = push_model(saved_model, store, model, uri, run, s3_endpoint)

    assert rerun.champion and champion_version(uri, model) == rerun.model_version
    assert live_versions(uri, model).keys() == {first.model_version, rerun.model_version}  # staged one gone
    assert _store_folders(s3_endpoint, store, model) == {
        first.store_uri.rsplit("/", 1)[1],
        rerun.store_uri.rsplit("/", 1)[1],
    }
    assert_registry_sound(uri, tmp_path, s3_endpoint, model)


def test_server_lost_before_the_step_touches_nothing(
    saved_model: Path, mlflow_cable: Cable, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    uri, store, model = mlflow_cable.uri, f"s3://{bucket}/models", f"served-{uuid.uuid4().hex[:6]}"
    run = new_pipeline_run(uri, "none")
    mlflow_cable.unplug()

    with pytest.raises(MlflowException, match=rf"{uri}/api/.*Max retries exceeded"):
        push_model(saved_model, store, model, uri, run, s3_endpoint)

    assert _store_folders(s3_endpoint, store, model) == set()  # nothing uploaded for an unreachable registry
    mlflow_cable.plug()
    assert tracking.client(uri).search_model_versions(f"name = '{model}'") == []
    rerun = push_model(saved_model, store, model, uri, run, s3_endpoint)
    assert rerun.champion and champion_version(uri, model) == rerun.model_version == "1"
    assert_registry_sound(uri, tmp_path, s3_endpoint, model)
