"""The TensorFlow Serving layout (`<store>/<model>/serving/<version>/`) under faults: a failed push leaves no
serving copy, locally or on S3; a push killed after writing it and before moving the alias is finished by
its rerun, or swept, copy and all, by the next push of another run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import tensorflow as tf
from hardening_helpers import MODEL_NAME, Fault, FaultProxy, champion_version, live_versions, new_pipeline_run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking
from components.push.lock import RELEASED_TAG, lock_epochs
from components.push.task import push_model
from components.train.mlflow_model import make_mlflow_model, saved_model_inputs

pytestmark = pytest.mark.hardening

KILL_AT_THE_ALIAS = """
import os, signal, sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from components.push.task import push_model
model, store, model_name, tracking_uri, run_id = sys.argv[1:]
MlflowClient.set_registered_model_alias = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
push_model(Path(model), store, model_name, tracking_uri, run_id)
"""


class Scaled(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = tf.Variable(0.3, dtype=tf.float64)

    @tf.function(input_signature=[{"x": tf.TensorSpec([None], tf.float64, name="x")}])
    def serve(self, dense):
        return {"probability": tf.cast(tf.sigmoid(self.weight * dense["x"]), tf.float32)}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    module, path = Scaled(), tmp_path_factory.mktemp("serving-model") / "model"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    make_mlflow_model(path, saved_model_inputs(path), None)
    return path


def _serving(store: Path) -> list[str]:
    return sorted(path.name for path in (store / MODEL_NAME / "serving").iterdir())


def _push(model: Path, store: str, uri: str, seen: str | None, endpoint: str | None = None) -> Any:
    return push_model(model, store, MODEL_NAME, uri, new_pipeline_run(uri, seen), endpoint)


def test_a_push_failing_as_the_alias_moves_leaves_no_serving_copy(
    model: Path, tmp_mlflow_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    first = _push(model, str(store), tmp_mlflow_uri, "none")
    assert _serving(store) == ["1"]

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise MlflowException("registry went away")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refuse)
    with pytest.raises(MlflowException, match="registry went away"):
        _push(model, str(store), tmp_mlflow_uri, first.model_version)

    assert _serving(store) == ["1"] and champion_version(tmp_mlflow_uri) == "1"
    assert live_versions(tmp_mlflow_uri).keys() == {"1"}
    storage.verify_dir(str(store / MODEL_NAME / "serving" / "1"), storage.dir_checksums(model))


def test_an_s3_store_failing_under_the_serving_copy_leaves_none_of_it(
    model: Path, bucket: str, s3_endpoint: str, fault_proxy: FaultProxy, tmp_mlflow_uri: str
) -> None:
    store = f"s3://{bucket}/models"
    first = _push(model, store, tmp_mlflow_uri, "none", s3_endpoint)
    fault_proxy.faults.append(Fault("PUT", "500", times=1000, path_part=f"/{MODEL_NAME}/serving/2/"))

    with pytest.raises(storage.StorageError, match=f"{store}/{MODEL_NAME}/serving/2/.*InternalError"):
        _push(model, store, tmp_mlflow_uri, first.model_version, fault_proxy.url)

    assert fault_proxy.count("PUT", "500") == storage.S3_MAX_ATTEMPTS
    keys = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    serving = {key["Key"].split("/serving/")[1].split("/")[0] for key in keys if "/serving/" in key["Key"]}
    assert serving == {"1"}  # version 2's partial copy was removed with its version
    assert live_versions(tmp_mlflow_uri).keys() == {"1"} and champion_version(tmp_mlflow_uri) == "1"


@pytest.mark.parametrize("then", ["rerun", "another-run"])
def test_a_push_killed_at_the_alias_is_finished_or_swept_with_its_serving_copy(
    then: str, model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = _push(model, str(store), tmp_mlflow_uri, "none")
    run = new_pipeline_run(tmp_mlflow_uri, first.model_version)
    child = subprocess.run(
        [sys.executable, "-c", KILL_AT_THE_ALIAS, str(model), str(store), MODEL_NAME, tmp_mlflow_uri, run],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-3000:]
    assert _serving(store) == ["1", "2"] and champion_version(tmp_mlflow_uri) == "1"  # written, alias not moved

    if then == "rerun":
        finished = push_model(model, str(store), MODEL_NAME, tmp_mlflow_uri, run)
        assert (finished.model_version, finished.champion) == ("2", True)
        assert _serving(store) == ["1", "2"]
        storage.verify_dir(str(store / MODEL_NAME / "serving" / "2"), storage.dir_checksums(model))
    else:
        # Another run's push takes the lock later (released here, as the dead holder's lease running out
        # would, a minute on): the dead push's staged version goes, serving copy and all.
        client = tracking.client(tmp_mlflow_uri)
        epochs = lock_epochs(client, MODEL_NAME)
        client.set_registered_model_tag(epochs[max(epochs)].name, RELEASED_TAG, "true")
        later = _push(model, str(store), tmp_mlflow_uri, first.model_version)
        assert later.model_version == "3" and later.champion
        assert live_versions(tmp_mlflow_uri).keys() == {"1", "3"}
        assert _serving(store) == ["1", "3"]
