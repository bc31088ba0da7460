"""deploy_on_push and rollback against a fake Kubernetes API with KServe (tests/infra/fake_kserve_api.py),
a real SQLite registry, versions pushed to a real S3 (moto) and the models served by real MLflow scoring
servers on 127.0.0.1: the update whose new revision never comes up while the old one stays Ready, the
update that comes up and answers, an answer that is no prediction, the race with another promotion, and
`make rollback-model` with a REASON no shell may read."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import boto3
import pandas as pd
import pytest
import tensorflow as tf
from fake_kserve_api import STALLS, UP, FakeKServeApi, fake_kserve_api
from gate_records import record_gate
from infra_checks import REPO

from components.common import tracking
from components.deploy.task import deploy_on_push, run_deploy_step
from components.push.task import push_model
from components.serve import kserve, local, readiness, registry, verbs
from components.serve.cluster import Cluster
from components.serve.registry import ServingError
from components.train.mlflow_model import make_mlflow_model, saved_model_inputs

pytestmark = [pytest.mark.infra, pytest.mark.slow]

NAME = "deploy-model"
ISVC = kserve.isvc_name(NAME)
RAW_TARGET = kserve.Target("minikube")
ROLE = "arn:aws:iam::123456789012:role/tabular-mlops-model-server"
SERVERLESS_TARGET = kserve.Target("eks", role_arn=ROLE)
EXAMPLE = pd.DataFrame({"x": [0.5, -1.0]})


class Tiny(tf.Module):
    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = tf.Variable(weight, dtype=tf.float64)

    @tf.function(input_signature=[{"x": tf.TensorSpec([None], tf.float64, name="x")}])
    def serve(self, dense):
        return {"probability": tf.cast(tf.sigmoid(self.weight * dense["x"]), tf.float32)}


@dataclass(frozen=True)
class Registry:
    """Versions 1 and 2 champions in turn, 3 published but never champion; `database` is copied per test."""

    database: Path
    models: dict[str, Path]
    endpoint: str


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, _empty_mlflow_db: Path) -> Registry:
    root = tmp_path_factory.mktemp("deploy")
    shutil.copyfile(_empty_mlflow_db, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    models = {}
    for version, weight, seen_by_gate in (("1", 0.5, None), ("2", 1.0, None), ("3", 2.0, "1")):
        module, path = Tiny(weight), root / f"model-{version}"
        tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
        make_mlflow_model(path, saved_model_inputs(path), EXAMPLE)
        run = tracking.start_pipeline_run(uri, "deploy-tests", f"job-{version}", {"epochs": 1})
        record_gate(uri, run, seen_by_gate)  # the blessing push requires; a stale champion for version 3
        result = push_model(path, f"s3://{bucket}/models", NAME, uri, run, s3_endpoint)
        assert (result.model_version, result.champion) == (version, seen_by_gate is None)
        models[version] = path
    return Registry(root / "mlflow.db", models, s3_endpoint)


@contextmanager
def _scoring_server(model_dir: Path, request_log: Path) -> Iterator[str]:
    """The model server of `make serve` (MLflow's scoring app under uvicorn) on a free local port."""
    import uvicorn

    model, _ = local.load(str(model_dir), model_dir)
    server = uvicorn.Server(uvicorn.Config(local.build_app(model, str(request_log)), log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class _NoPrediction(BaseHTTPRequestHandler):
    """A server that answers 200 with JSON that is no prediction (a probability that is text)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"predictions": [{"probability": "high"}, {"probability": "low"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def servers(pushed: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Version -> URL of its model server; "bad" -> a server whose answers are no predictions."""
    logs = tmp_path_factory.mktemp("request-logs")
    bad = ThreadingHTTPServer(("127.0.0.1", 0), _NoPrediction)
    threading.Thread(target=bad.serve_forever, daemon=True).start()
    with _scoring_server(pushed.models["1"], logs / "1.jsonl") as one, _scoring_server(
        pushed.models["2"], logs / "2.jsonl"
    ) as two:  # fmt: skip
        yield {"1": one, "2": two, "bad": f"http://127.0.0.1:{bad.server_address[1]}", "logs": str(logs)}
    bad.shutdown()
    bad.server_close()


@dataclass
class World:
    uri: str
    fake: FakeKServeApi
    cluster: Cluster
    deployment: verbs.Deployment


@pytest.fixture(params=[RAW_TARGET, SERVERLESS_TARGET], ids=["raw", "serverless"])
def world(
    request: pytest.FixtureRequest,
    pushed: Registry,
    servers: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """Version 2 the champion, version 1 served and answering: deploy_on_push(2) is an update."""
    shutil.copyfile(pushed.database, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    deployment = verbs.Deployment(uri, NAME, request.param, endpoint_url=pushed.endpoint)
    with fake_kserve_api() as fake:
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
        fake.rollouts["1"], fake.urls["1"] = UP, servers["1"]
        cluster = Cluster(poll_s=0.1)
        verbs.deploy(deployment, "1", cluster=cluster)
        assert cluster.serving_problem(kserve.inference_service(_version(uri, "1"), request.param), "1")[0] is None
        yield World(uri, fake, cluster, deployment)


def _version(uri: str, version: str) -> registry.ServedVersion:
    return registry.resolve(uri, NAME, version)


def _tags(uri: str, version: str) -> dict[str, str]:
    return tracking.client(uri).get_model_version(NAME, version).tags


def _champion(uri: str) -> str:
    return str(tracking.client(uri).get_model_version_by_alias(NAME, tracking.CHAMPION_ALIAS).version)


def test_a_new_revision_that_never_comes_up_fails_rolls_back_only_itself_and_its_retry_fails_too(
    world: World, servers: dict[str, str]
) -> None:
    world.fake.rollouts["2"] = STALLS  # the old revision stays Ready and answers at the service's URL
    with pytest.raises(ServingError) as failed:
        deploy_on_push(world.deployment, "2", timeout_s=1.0, cluster=world.cluster)
    message = str(failed.value)
    assert message.startswith("deploy_on_push: version 2 not served after 1 s (")
    stalled = "rolling out version 2" if world.deployment.target.mode == kserve.RAW else "is not ready"
    assert stalled in message and message.endswith(": rolled back to the previous champion"), message
    assert _champion(world.uri) == "1"
    assert world.fake.served_version(kserve.NAMESPACE, ISVC) == "1"  # the InferenceService serves 1 again
    assert _tags(world.uri, "2")[registry.ROLLED_BACK_TAG].startswith("rolled back to version 1 at ")
    assert registry.ROLLED_BACK_TAG not in _tags(world.uri, "1")
    first = _tags(world.uri, "2")[registry.DEPLOY_OUTCOME_TAG]
    assert first.startswith("failed: deploy_on_push: version 2 not served") and stalled in first

    # KFP's retry of the step: it fails again, with the first reason, changing nothing; MLflow agrees.
    writes = len(world.fake.writes)
    run = tracking.start_pipeline_run(world.uri, "deploy-tests", "job-retry", {"epochs": 1})
    target = world.deployment.target
    with pytest.raises(ServingError) as retried:
        run_deploy_step(world.uri, run, NAME, "2", target.platform, target.runtime, target.role_arn, 1.0)
    assert str(retried.value) == f"{first.removeprefix('failed: ')} (recorded by an earlier attempt)"
    assert len(world.fake.writes) == writes and _champion(world.uri) == "1"
    pipeline_run = tracking.client(world.uri).get_run(run)
    assert pipeline_run.info.status == "FAILED"
    assert pipeline_run.data.tags[tracking.ERROR_TAG].startswith("deploy: deploy_on_push: version 2 not served")


def test_an_update_that_comes_up_and_answers_its_input_example_is_served(world: World, servers: dict[str, str]) -> None:
    world.fake.rollouts["2"], world.fake.urls["2"] = UP, servers["2"]
    log = Path(servers["logs"]) / "2.jsonl"
    rows_before = len(log.read_text().splitlines()) if log.exists() else 0
    outcome = deploy_on_push(world.deployment, "2", timeout_s=5.0, cluster=world.cluster)
    assert outcome == f"version 2 is served and answers its input example: InferenceService {kserve.NAMESPACE}/{ISVC}"
    answered = [json.loads(line)["x"] for line in log.read_text().splitlines()[rows_before:]]
    assert answered == EXAMPLE["x"].tolist()  # version 2's own server got the example, once
    assert _champion(world.uri) == "2" and world.fake.served_version(kserve.NAMESPACE, ISVC) == "2"
    assert _tags(world.uri, "2")[registry.DEPLOY_OUTCOME_TAG].startswith("served at ")
    writes = len(world.fake.writes)
    again = deploy_on_push(world.deployment, "2", timeout_s=5.0, cluster=world.cluster)
    assert again.startswith("version 2 is served (recorded by an earlier attempt: served at ")
    assert len(world.fake.writes) == writes


def test_an_answer_that_is_no_prediction_fails_the_deploy(world: World, servers: dict[str, str]) -> None:
    world.fake.rollouts["2"], world.fake.urls["2"] = UP, servers["bad"]
    with pytest.raises(ServingError, match="the prediction \\{'probability': 'high'\\} is not a finite number"):
        deploy_on_push(world.deployment, "2", timeout_s=1.0, cluster=world.cluster)
    assert _champion(world.uri) == "1" and world.fake.served_version(kserve.NAMESPACE, ISVC) == "1"


def test_a_rollback_never_retires_a_version_promoted_while_the_deploy_waited(world: World) -> None:
    def another_push_promotes_3(version: str | None) -> None:
        if version == "2":
            tracking.client(world.uri).set_registered_model_alias(NAME, tracking.CHAMPION_ALIAS, "3")

    world.fake.rollouts["2"], world.fake.on_write = STALLS, another_push_promotes_3
    with pytest.raises(ServingError) as failed:
        deploy_on_push(world.deployment, "2", timeout_s=0.5, cluster=world.cluster)
    assert f"the rollback failed too: refusing to roll back version 2 of {NAME}: the champion is version 3" in str(
        failed.value
    )
    assert _champion(world.uri) == "3"
    assert all(registry.ROLLED_BACK_TAG not in _tags(world.uri, version) for version in ("1", "2", "3"))


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b'{"predictions": [0.2, 0.9]}', None),
        (b'{"predictions": [{"p": 0.2, "q": [1, 2]}, {"p": 0.9, "q": [3, 4]}]}', None),
        (b'{"predictions": [0.2]}', "holds no 2 predictions"),
        (b'{"predictions": [0.2, NaN]}', "not a finite number"),
        (b'{"predictions": [0.2, true]}', "not a finite number"),
        (b'{"predictions": [{}, 0.3]}', "not a finite number"),
        (b"<html>ok</html>", "not a JSON object"),
    ],
)
def test_what_counts_as_a_prediction(answer: bytes, problem: str | None) -> None:
    found = readiness.prediction_problem(answer, rows=2)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize("world", [RAW_TARGET], ids=["raw"], indirect=True)
def test_make_rollback_model_refuses_a_from_that_is_not_the_champion_and_passes_reason_as_text(
    world: World, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    reason = f'p99 "doubled" $(touch {canary}-1) `touch {canary}-2`; touch {canary}-3 $$HOME $(HOME) \\ end'
    env = {
        "MLFLOW_TRACKING_URI": world.uri,
        "MODEL_NAME": NAME,
        "MLFLOW_S3_ENDPOINT_URL": world.deployment.endpoint_url,
    }
    env |= {"SERVING_PLATFORM": world.deployment.target.platform, "SERVING_ROLE_ARN": ROLE}

    def make(*variables: str) -> subprocess.CompletedProcess[str]:
        import os

        command = ["make", "--no-print-directory", "-o", ".venv/.installed", "rollback-model", *variables]
        return subprocess.run(command, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True)

    refused = make("FROM=1", f"REASON={reason}")
    assert refused.returncode != 0
    assert f"error: refusing to roll back version 1 of {NAME}: the champion is version 2" in refused.stderr
    assert _champion(world.uri) == "2"
    done = make("FROM=2", f"REASON={reason}")
    assert done.returncode == 0, done.stderr
    assert _tags(world.uri, "2")[registry.ROLLED_BACK_TAG].endswith(f": {reason}")  # every character, as text
    assert not list(tmp_path.glob("canary*"))  # no shell ran any part of it
    assert _champion(world.uri) == "1" and world.fake.served_version(kserve.NAMESPACE, ISVC) == "1"


def _isvc(version: str, generation: int, observed: int, ready: str, message: str = "") -> dict:
    condition = {"type": "Ready", "status": ready, "message": message}
    return {
        "metadata": {"labels": {kserve.MODEL_VERSION_LABEL: version}, "generation": generation},
        "status": {"observedGeneration": observed, "conditions": [condition]},
    }


@pytest.mark.parametrize(
    ("isvc", "problem"),
    [
        (_isvc("2", 3, 3, "True"), None),
        (_isvc("1", 3, 3, "True"), "names version 1, not 2"),
        (_isvc("2", 3, 2, "True"), "has not processed generation 3 yet (observedGeneration 2)"),
        (_isvc("2", 3, 3, "False", "container crash-looping"), "not Ready: container crash-looping"),
        ({"metadata": {"labels": {kserve.MODEL_VERSION_LABEL: "2"}, "generation": 1}}, "observedGeneration None"),
    ],
)
def test_the_inference_service_must_name_this_version_be_processed_and_ready(isvc: dict, problem: str | None) -> None:
    found = readiness.isvc_problem(isvc, "2")
    assert found is None if problem is None else problem in found
