"""Push through a proxy that makes the S3 store fail: retried within bounds, then a clear failure, nothing lost.

The store is moto's S3 server over HTTP; the proxy (tests/hardening/conftest.py) answers
500 or 503 SlowDown, or resets the connection halfway through a request body.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from hardening_helpers import (
    MODEL_NAME,
    Fault,
    FaultProxy,
    assert_registry_sound,
    champion_version,
    free_port,
    live_versions,
    new_pipeline_run,
)

from components.common import storage
from components.push.task import push_model

pytestmark = pytest.mark.hardening


def _stored_keys(s3_endpoint: str, bucket: str) -> set[str]:
    listing = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture
def first_champion(saved_model: Path, bucket: str, s3_endpoint: str, tmp_mlflow_uri: str) -> str:
    """Version 1, pushed straight to moto: the champion the faulty pushes must leave alone."""
    run = new_pipeline_run(tmp_mlflow_uri, champion_seen_by_gate="none")
    push_model(saved_model, f"s3://{bucket}/models", MODEL_NAME, tmp_mlflow_uri, run, s3_endpoint)
    return champion_version(tmp_mlflow_uri)


def test_throttling_5xx_and_a_cut_upload_are_ridden_out(
    saved_model: Path, bucket: str, fault_proxy: FaultProxy, first_champion: str, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    fault_proxy.faults += [
        Fault("PUT", "slowdown", times=2, path_part="saved_model.pb"),
        Fault("PUT", "cut", times=1, path_part="variables.data"),
        Fault("PUT", "500", times=1, path_part=storage.MANIFEST_NAME),
        Fault("GET", "500", times=1),
    ]
    run = new_pipeline_run(tmp_mlflow_uri, champion_seen_by_gate=first_champion)

    result = push_model(saved_model, f"s3://{bucket}/models", MODEL_NAME, tmp_mlflow_uri, run, fault_proxy.url)

    assert all(fault.times == 0 for fault in fault_proxy.faults), "every fault was injected"
    assert fault_proxy.count("PUT", "slowdown") == 2 and fault_proxy.count("PUT", "cut") == 1
    assert result.champion and champion_version(tmp_mlflow_uri) == result.model_version == "2"
    assert_registry_sound(tmp_mlflow_uri, tmp_path, fault_proxy.url)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("500", r"InternalError injected by the test proxy \(InternalError\) \(5 attempts\)"),
        ("slowdown", r"SlowDown injected by the test proxy \(SlowDown\) \(5 attempts\)"),
        ("cut", r"failed after up to 5 attempts: Connection was closed"),
    ],
)
def test_a_store_that_keeps_failing_ends_the_push_cleanly(
    kind: str,
    message: str,
    saved_model: Path,
    bucket: str,
    s3_endpoint: str,
    fault_proxy: FaultProxy,
    first_champion: str,
    tmp_mlflow_uri: str,
    tmp_path: Path,
) -> None:
    before = _stored_keys(s3_endpoint, bucket)
    fault_proxy.faults.append(Fault("PUT", kind, times=1000, path_part="variables/"))
    run = new_pipeline_run(tmp_mlflow_uri, champion_seen_by_gate=first_champion)

    with pytest.raises(storage.StorageError, match=message) as failure:
        push_model(saved_model, f"s3://{bucket}/models", MODEL_NAME, tmp_mlflow_uri, run, fault_proxy.url)

    assert f"s3://{bucket}/models/{MODEL_NAME}/" in str(failure.value)  # names the object
    assert fault_proxy.count("PUT", kind) == storage.S3_MAX_ATTEMPTS  # bounded: not one more
    assert live_versions(tmp_mlflow_uri).keys() == {first_champion}
    assert champion_version(tmp_mlflow_uri) == first_champion
    assert _stored_keys(s3_endpoint, bucket) == before  # the partial upload was removed
    assert_registry_sound(tmp_mlflow_uri, tmp_path, s3_endpoint)


def test_a_store_that_is_down_fails_with_the_endpoint_named(
    saved_model: Path, bucket: str, s3_endpoint: str, first_champion: str, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    run = new_pipeline_run(tmp_mlflow_uri, champion_seen_by_gate=first_champion)

    with pytest.raises(storage.StorageError, match=rf"after up to 5 attempts: Could not connect to .*{closed}"):
        push_model(saved_model, f"s3://{bucket}/models", MODEL_NAME, tmp_mlflow_uri, run, closed)

    assert live_versions(tmp_mlflow_uri).keys() == {first_champion}
    assert champion_version(tmp_mlflow_uri) == first_champion
    assert_registry_sound(tmp_mlflow_uri, tmp_path, s3_endpoint)


def test_a_store_failing_during_verification_registers_nothing(
    saved_model: Path,
    bucket: str,
    s3_endpoint: str,
    fault_proxy: FaultProxy,
    first_champion: str,
    tmp_mlflow_uri: str,
    tmp_path: Path,
) -> None:
    before = _stored_keys(s3_endpoint, bucket)
    fault_proxy.faults.append(Fault("GET", "500", times=1000, path_part="saved_model.pb"))
    run = new_pipeline_run(tmp_mlflow_uri, champion_seen_by_gate=first_champion)

    with pytest.raises(storage.StorageError, match=r"reading s3://.*/saved_model.pb failed: InternalError"):
        push_model(saved_model, f"s3://{bucket}/models", MODEL_NAME, tmp_mlflow_uri, run, fault_proxy.url)

    assert live_versions(tmp_mlflow_uri).keys() == {first_champion}
    assert _stored_keys(s3_endpoint, bucket) == before
    assert_registry_sound(tmp_mlflow_uri, tmp_path, s3_endpoint)
