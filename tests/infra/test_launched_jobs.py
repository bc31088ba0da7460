"""Stopping a step stops the GPU jobs it launched: SIGTERM (what Kubernetes sends a pod KFP stops) to a real
launcher process, running against a Kubernetes API on 127.0.0.1, deletes its TFJob or Katib Experiment
with its pods and exits 143; the handler in place before is back after a launch that ends normally."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from fake_kubernetes import FakeKubernetes, fake_kubernetes
from infra_checks import REPO

from components.common.cluster import LAUNCHER_POD_NAME_ENV, LAUNCHER_POD_UID_ENV, PIPELINE_NAMESPACE
from components.common.specs.base import Binary
from components.tasks import task_for
from components.train import distributed
from components.train.distributed import WorkerPool, render_tfjob, staging_uri, worker_args
from components.train.hyperparameters import Hyperparameters
from components.tune import katib
from components.tune.space import SearchSpace

pytestmark = pytest.mark.infra

POD_NAME, POD_UID = "tabular-training-abcde-system-container-impl-1234", "6f1c2a4e-9b3d-4c5e-8f70-1a2b3c4d5e6f"
POOL = WorkerPool(2, "ghcr.io/tabular-mlops/trainer:0123456789ab", 1, "pool", "gpu")
# The launcher: the step's own create-and-watch loop, against the API at argv[1], the job on stdin.
LAUNCHER = """
import json, sys
from kubernetes import client
from components.train import distributed
from components.tune import katib
host, kind, job = sys.argv[1], sys.argv[2], json.loads(sys.stdin.readline())
api = client.ApiClient(client.Configuration(host=host))
if kind == "TFJob":
    distributed.run_tfjob(client.CustomObjectsApi(api), client.CoreV1Api(api), job, poll_s=0.05, timeout_s=120)
else:
    katib.run_experiment(client.CustomObjectsApi(api), job, poll_s=0.05, timeout_s=120)
"""


@pytest.fixture
def in_the_launcher_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAUNCHER_POD_NAME_ENV, POD_NAME)
    monkeypatch.setenv(LAUNCHER_POD_UID_ENV, POD_UID)


def _tfjob() -> dict[str, Any]:
    args = worker_args("taxi", "s3://b/graph", "s3://b/examples", staging_uri("s3://b/model"), {}, "", "")
    return render_tfjob(distributed.job_name("s3://b/model"), PIPELINE_NAMESPACE, POOL, args)


def _experiment() -> dict[str, Any]:
    return katib.render_experiment(
        katib.experiment_name("run-1"),
        PIPELINE_NAMESPACE,
        task_for(Binary()),
        SearchSpace(),
        katib.TrialBudget(trials=4),
        Hyperparameters(epochs=3),
        WorkerPool(1, POOL.image, 1, "pool", "gpu"),
        "taxi",
        ("s3://b/graph", "s3://b/examples"),
    )


def _sigterm_while_running(server: FakeKubernetes, job: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Start the launcher on `job`, wait until it is watching the job it created, SIGTERM it, wait for its end."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, server.url, job["kind"]],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdin is not None
    launcher.stdin.write(json.dumps(job) + "\n")
    launcher.stdin.flush()
    name = job["metadata"]["name"]
    deadline = time.monotonic() + 60
    # Watching: the job was created and read back at least twice (the wait loop is polling).
    while sum(1 for method, path, _ in server.requests if method == "GET" and path.endswith(f"/{name}")) < 2:
        assert launcher.poll() is None, f"the launcher ended before it was stopped:\n{launcher.communicate()}"
        assert time.monotonic() < deadline, "the launcher did not start watching within 60 s"
        time.sleep(0.05)
    assert name in server.jobs
    launcher.send_signal(signal.SIGTERM)
    stdout, stderr = launcher.communicate(timeout=60)
    return subprocess.CompletedProcess(launcher.args, launcher.returncode, stdout, stderr)


@pytest.mark.usefixtures("in_the_launcher_pod")
@pytest.mark.parametrize(
    ("make", "plural", "said"),
    [(_tfjob, "tfjobs", "deleting TFJob"), (_experiment, "experiments", "deleting Katib Experiment")],
    ids=["tfjob", "katib-experiment"],
)
def test_sigterm_to_a_launcher_leaves_no_job_behind(make: Any, plural: str, said: str) -> None:
    job = make()
    name = job["metadata"]["name"]
    with fake_kubernetes([["Created"], ["Created", "Running"]]) as (_, _, server):
        ended = _sigterm_while_running(server, job)
    assert ended.returncode == 128 + signal.SIGTERM, ended
    assert "SIGTERM: the step is being stopped" in ended.stdout
    assert f"{said} {PIPELINE_NAMESPACE}/{name}" in ended.stdout
    assert server.jobs == {}, "the job outlived its launcher"
    (created,) = [body for method, _, body in server.requests if method == "POST"]
    assert created["metadata"]["ownerReferences"] == job["metadata"]["ownerReferences"]
    deletes = [path for method, path, _ in server.requests if method == "DELETE"]
    assert deletes == [f"/apis/kubeflow.org/{job['apiVersion'].split('/')[1]}/namespaces/kubeflow/{plural}/{name}"]
    # Foreground: the job is gone only once its pods are, so no worker keeps its GPU.
    assert server.delete_queries == [{"propagationPolicy": ["Foreground"]}]


def test_a_launch_that_ends_gives_sigterm_its_handler_back() -> None:
    def before(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, before)
    try:
        with fake_kubernetes([["Created"], ["Created", "Succeeded"]]) as (custom, core, _):
            distributed.run_tfjob(custom, core, _tfjob(), poll_s=0.01, timeout_s=30, say=lambda line: None)
        assert signal.getsignal(signal.SIGTERM) is before
        with fake_kubernetes([["Created", "Running"]]) as (custom, _, server):
            with pytest.raises(TimeoutError):
                katib.run_experiment(custom, _experiment(), poll_s=0.01, timeout_s=0.1, say=lambda line: None)
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert server.jobs == {}  # the Experiment past its time was deleted
