"""A fake Kubeflow Pipelines API on 127.0.0.1 and an environment pointing the cluster verbs at it."""

from __future__ import annotations

import os
import subprocess
from typing import Callable, Iterator

import kfp
import pytest
from fake_kfp import FakeKfp

from components.runs.settings import PROJECT_ROOT

CLUSTER_ENV = {
    "DATASET": "modeldata_taxi",
    "DATA_URI": "s3://tabular-mlops-data/taxi.csv",
    "MODEL_STORE_URI": "s3://tabular-mlops-models/store",
    "MLFLOW_TRACKING_URI": "http://mlflow.kubeflow.svc:5000",
    "VERSION": "0a1b2c3d4e5f",
}
UNSET = (
    *("KFP_NAMESPACE", "KFP_TOKEN", "KFP_EXPERIMENT", "CRON", "MODEL_NAME", "EPOCHS", "MLFLOW_EXPERIMENT"),
    *("BASELINE_URI", "RETRAIN", "TRAIN_DATA_URI", "GPU_NODE_POOL_LABEL_KEY", "GPU_NODE_POOL"),
)


@pytest.fixture
def fake_kfp() -> Iterator[FakeKfp]:
    fake = FakeKfp()
    server = fake.serve()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cluster_env(monkeypatch: pytest.MonkeyPatch, fake_kfp: FakeKfp, tmp_path) -> pytest.MonkeyPatch:
    """Settings a cluster can use, KFP_HOST at the fake, and kfp.Client's context file out of the user's home."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in CLUSTER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KFP_HOST", fake_kfp.url)
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    return monkeypatch


@pytest.fixture
def run_make(tmp_path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A make target run as a user types it (setup taken as done), with a clean HOME for kfp.Client's context file."""
    env = {**os.environ, "HOME": str(tmp_path)}

    def run(*target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", "-o", ".venv/.installed", *target],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
