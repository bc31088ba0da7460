"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest
from mlflow.tracking import MlflowClient
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on a free local port (real HTTP), with dummy AWS credentials."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for name in (
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "MLFLOW_S3_ENDPOINT_URL",
        ):
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def _empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Creating an MLflow database runs every migration (seconds); tests copy one made once."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tmp_mlflow_uri(tmp_path: Path, _empty_mlflow_db: Path) -> str:
    """A fresh MLflow tracking and registry store on SQLite."""
    shutil.copyfile(_empty_mlflow_db, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path}/mlflow.db"


def require_debian_tool(name: str) -> str:
    """The tool's path; without it, fail in CI (CI set) and skip elsewhere, telling how to install it."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: run `make system-deps` (it installs the Debian packages the tests drive)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def debian_tool() -> Callable[[str], str]:
    """`require_debian_tool`, for test modules that cannot import this conftest."""
    return require_debian_tool


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Prometheus Pushgateway (Debian's) on a free 127.0.0.1 port, stopped after the session."""
    binary = require_debian_tool("prometheus-pushgateway")
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("pushgateway") / "pushgateway.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            # The admin API lets a test wipe what earlier tests pushed.
            [binary, f"--web.listen-address={url.removeprefix('http://')}", "--web.enable-admin-api"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Pushgateway did not start at {url}:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real SavedModel (y = 2x + 0.5) with a variables folder, as push uploads."""
    import tensorflow as tf

    class Doubler(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = tf.Variable(0.5)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": 2.0 * x + self.bias}

    module = Doubler()
    path = tmp_path_factory.mktemp("export") / "model"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    from components.train.mlflow_model import make_mlflow_model, saved_model_inputs

    make_mlflow_model(path, saved_model_inputs(path), None)  # push publishes MLflow models, as train exports them
    return path


@pytest.fixture(scope="session")
def bundled_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """modeldata_taxi as `make data DATASET=modeldata_taxi` writes it, in a temporary folder (no data/ needed)."""
    from pipelines.datasets import materialize_dataset

    return materialize_dataset("modeldata_taxi", tmp_path_factory.mktemp("bundled") / "modeldata_taxi.csv")
