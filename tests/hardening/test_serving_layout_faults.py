"""The TensorFlow Serving layout (`<store>/<model>/serving/<version>/`) under faults: a failed push leaves no
serving copy, locally or on S3. A push killed at any point never leaves TensorFlow Serving serving a version
that is not champion: the highest serving folder is the champion's, except that a push killed after moving
the alias and before its copy appeared leaves the previous champion served; its rerun, or the next push of
another run, ends with the highest serving folder the champion's, complete."""

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
from serving_invariant import assert_champion_served, served_version

from components.common import storage, tracking
from components.push.lock import lock_epochs, mark_released
from components.push.task import push_model
from components.train.mlflow_model import make_mlflow_model, saved_model_inputs

pytestmark = pytest.mark.hardening

KILLED_PUSH = """
import os, signal, sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from components.common import storage
from components.push.task import push_model
model, store, model_name, tracking_uri, run_id, where = sys.argv[1:]
real_copy, real_rename = storage.shutil.copyfile, Path.rename
real_alias, real_tag = MlflowClient.set_registered_model_alias, MlflowClient.set_model_version_tag
copied = []
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def copy(source, target, *args, **kwargs):  # shutil's: MLflow's artifact downloads call it too
    if str(target).startswith(store):
        copied.append(target)
        if (where == "upload" and len(copied) == 2) or (where == "serving-copy" and "/serving/" in str(target)):
            die()
    return real_copy(source, target, *args, **kwargs)
def alias(self, *args, **kwargs):
    if where == "before-alias":
        die()
    real_alias(self, *args, **kwargs)
    if where == "after-alias":
        die()
def rename(self, target):
    if where == "serving-rename" and str(self).endswith(".partial"):
        die()
    return real_rename(self, target)
def tag(self, name, version, key, value):
    if where == "after-serving" and key == "champion_decision":
        die()
    return real_tag(self, name, version, key, value)
storage.shutil.copyfile, Path.rename = copy, rename
MlflowClient.set_registered_model_alias, MlflowClient.set_model_version_tag = alias, tag
push_model(Path(model), store, model_name, tracking_uri, run_id)
"""
# Where KILLED_PUSH dies, in push order; from "after-alias" to "serving-rename" the alias has moved and
# the new version's serving folder has not appeared yet.
KILL_POINTS = ("upload", "before-alias", "after-alias", "serving-copy", "serving-rename", "after-serving")
SERVING_LAGS = {"after-alias", "serving-copy", "serving-rename"}


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
@pytest.mark.parametrize("where", KILL_POINTS)
def test_at_every_kill_point_the_highest_serving_folder_is_a_champion_and_ends_the_champion(
    where: str, then: str, model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = _push(model, str(store), tmp_mlflow_uri, "none")
    run = new_pipeline_run(tmp_mlflow_uri, first.model_version)
    child = subprocess.run(
        [sys.executable, "-c", KILLED_PUSH, str(model), str(store), MODEL_NAME, tmp_mlflow_uri, run, where],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-3000:]

    if where in SERVING_LAGS:
        # The alias moved, the copy never appeared: the previous champion is still served, not a version that
        # was never champion (written before the move, a copy would be served with the alias still on 1).
        assert champion_version(tmp_mlflow_uri) == "2"
        assert served_version(store) == first.model_version and not (store / MODEL_NAME / "serving" / "2").exists()
    else:
        assert champion_version(tmp_mlflow_uri) == ("2" if where == "after-serving" else first.model_version)
        assert_champion_served(tmp_mlflow_uri, store)

    if then == "rerun":
        finished = push_model(model, str(store), MODEL_NAME, tmp_mlflow_uri, run)
        assert (finished.model_version, finished.champion) == ("2", True)
    else:
        # Another run's push takes the lock later (released here, as the dead holder's lease running out
        # would, a minute on). Its gate saw version 1: it is promoted only if the dead push never moved the
        # alias (whose version is swept, serving copy and all); else the champion's copy is restored.
        client = tracking.client(tmp_mlflow_uri)
        epochs = lock_epochs(client, MODEL_NAME)
        mark_released(client, max(epochs))
        later = _push(model, str(store), tmp_mlflow_uri, first.model_version)
        moved = where in SERVING_LAGS or where == "after-serving"
        number = "2" if where == "upload" else "3"  # killed mid-upload, the dead push registered nothing
        assert (later.model_version, later.champion) == (number, not moved)
        assert live_versions(tmp_mlflow_uri).keys() == ({"1", "2", "3"} if moved else {"1", number})
    assert_champion_served(tmp_mlflow_uri, store)
    assert not [path.name for path in (store / MODEL_NAME / "serving").iterdir() if path.name.startswith(".")]
