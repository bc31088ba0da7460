"""The KServe objects for minikube and EKS, field by field and (Kubernetes' own kinds) against the 1.33
schemas; the manifests in infra/kserve/; rollback against a real SQLite registry; the verbs' one-line
failures without a cluster."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import tensorflow as tf
import yaml
from gate_records import record_gate
from infra_checks import INFRA, restricted_violations

from components.common import tracking
from components.push.task import push_model
from components.serve import __main__ as cli
from components.serve import kserve, registry
from components.serve.registry import ServedVersion, ServingError
from components.train.mlflow_model import make_mlflow_model, saved_model_inputs

pytestmark = pytest.mark.infra

SOURCE = "s3://tabular-mlops/models/modeldata_taxi-classifier/20261201T1-abcd1234"
VERSION = ServedVersion("modeldata_taxi-classifier", "7", SOURCE, "run")
MINIKUBE = kserve.Target("minikube")
EKS = kserve.Target("eks", role_arn="arn:aws:iam::123456789012:role/tabular-mlops-model-server", region="eu-west-1")
IMAGE = "ghcr.io/tabular-mlops/pipeline:abc123"


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in objects}


def _valid(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, "1.33.0", strict=True)


def test_minikube_objects_field_by_field() -> None:
    objects = kserve.render(VERSION, MINIKUBE, image=IMAGE)
    assert [obj["kind"] for obj in objects] == ["ServiceAccount", "ServingRuntime", "InferenceService"]
    account, runtime, service = objects
    assert account["metadata"] == {
        "name": "tabular-mlops-model-server",
        "namespace": "tabular-mlops-serving",
        "labels": {"app.kubernetes.io/part-of": "tabular-mlops"},
        "annotations": {
            "serving.kserve.io/s3-endpoint": "minio.tabular-mlops.svc.cluster.local:9000",
            "serving.kserve.io/s3-usehttps": "0",
            "serving.kserve.io/s3-region": "us-east-1",
        },
    }
    assert account["secrets"] == [{"name": "tabular-mlops-model-store"}]
    _valid(account)
    (container,) = runtime["spec"]["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (IMAGE, "IfNotPresent")
    assert container["command"][2:4] == ["components.serve", "serve"] and "--request-log" in container["command"]
    assert runtime["spec"]["supportedModelFormats"] == [{"name": "mlflow", "version": "3", "autoSelect": False}]
    assert service["metadata"]["name"] == "modeldata-taxi-classifier"
    assert service["metadata"]["namespace"] == "tabular-mlops-serving"
    assert service["metadata"]["labels"]["tabular-mlops.io/model-version"] == "7"
    assert service["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "RawDeployment"}
    predictor = service["spec"]["predictor"]
    assert predictor["serviceAccountName"] == account["metadata"]["name"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert "canaryTrafficPercent" not in predictor
    assert predictor["labels"] == {"tabular-mlops.io/model-version": "7"}
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "mlflow"} and model["runtime"] == runtime["metadata"]["name"]
    assert model["storageUri"] == VERSION.source  # the version's own MLflow folder
    assert model["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert model["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert "FILLED" not in yaml.safe_dump_all(objects)


def test_eks_objects_use_irsa_and_serverless_mode_where_a_canary_is_possible() -> None:
    objects = _by_kind(kserve.render(VERSION, EKS, canary=10, image=IMAGE))
    account = objects["ServiceAccount"]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": EKS.role_arn,
        "serving.kserve.io/s3-region": "eu-west-1",
    }
    assert "secrets" not in account  # no keys on EKS
    _valid(account)
    assert objects["ServingRuntime"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    service = objects["InferenceService"]
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert service["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_the_tensorflow_runtime_reads_the_tf_serving_layout() -> None:
    objects = _by_kind(kserve.render(VERSION, kserve.Target("minikube", runtime="tensorflow")))
    assert "ServingRuntime" not in objects  # KServe's own TensorFlow Serving runtime
    model = objects["InferenceService"]["spec"]["predictor"]["model"]
    assert model["storageUri"] == "s3://tabular-mlops/models/modeldata_taxi-classifier/serving"
    assert (model["modelFormat"]["name"], model["runtime"]) == ("tensorflow", "kserve-tensorflow-serving")
    assert model["readinessProbe"]["httpGet"]["path"] == "/v1/models/modeldata-taxi-classifier"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: kserve.render(VERSION, MINIKUBE, canary=10), "CANARY needs KServe's Serverless mode"),
        (lambda: kserve.render(VERSION, EKS, canary=100), "between 1 and 99 percent"),
        (lambda: kserve.Target("eks"), "SERVING_ROLE_ARN is not set"),
        (lambda: kserve.Target("gke"), "unknown platform 'gke'"),
        (lambda: kserve.Target("minikube", runtime="onnx"), "unknown runtime 'onnx'"),
        (
            lambda: kserve.render(ServedVersion("m", "1", "file:///tmp/store/m/x-y", "r"), MINIKUBE),
            "a cluster cannot read: push to an S3 store",
        ),
        (lambda: kserve.isvc_name("_42"), "must start with a letter"),
    ],
)
def test_what_cannot_be_served_fails_with_one_clear_line(make: Any, message: str) -> None:
    with pytest.raises(ServingError, match=message):
        make()


def test_the_static_manifests_validate_and_the_model_container_is_restricted() -> None:
    files = [*sorted((INFRA / "kserve").glob("*.yaml")), *sorted((INFRA / "kserve" / "minikube").glob("*.yaml"))]
    templates = {"inferenceservice.yaml", "servingruntime.yaml", "serviceaccount.yaml"}
    kinds = []
    for path in files:
        if path.name in templates or path.name == "inferenceservice-config.yaml":
            continue
        for obj in yaml.safe_load_all(path.read_text()):
            _valid(obj)
            kinds.append(obj["kind"])
    assert sorted(kinds) == ["Namespace", "NetworkPolicy", "Role", "RoleBinding"]
    runtime = kserve.serving_runtime(MINIKUBE, IMAGE)
    pod = {"kind": "Pod", "metadata": {"name": "model"}, "spec": {"containers": runtime["spec"]["containers"]}}
    _valid({"apiVersion": "v1", **copy.deepcopy(pod)})
    assert list(restricted_violations(pod)) == []


def test_the_minikube_kserve_config_keeps_kserves_fields_and_sets_raw_mode() -> None:
    import json

    config = yaml.safe_load((INFRA / "kserve" / "minikube" / "inferenceservice-config.yaml").read_text())["data"]
    assert json.loads(config["deploy"]) == {"defaultDeploymentMode": "RawDeployment"}
    ingress = json.loads(config["ingress"])
    assert ingress["disableIngressCreation"] is True and ingress["ingressClassName"] == "nginx"


class Tiny(tf.Module):
    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = tf.Variable(weight, dtype=tf.float64)

    @tf.function(input_signature=[{"x": tf.TensorSpec([None], tf.float64, name="x")}])
    def serve(self, dense):
        return {"probability": tf.cast(tf.sigmoid(self.weight * dense["x"]), tf.float32)}


def _mlflow_model(root: Path, weight: float) -> Path:
    module = Tiny(weight)
    path = root / f"model-{weight}"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    make_mlflow_model(path, saved_model_inputs(path), None)
    return path


def _push(model: Path, store: Path, name: str, uri: str, seen_by_gate: str | None = None):
    run = tracking.start_pipeline_run(uri, "kserve-tests", f"job-{uuid.uuid4().hex[:6]}", {"epochs": 1})
    if seen_by_gate is not None:
        record_gate(uri, run, seen_by_gate)
    return push_model(model, str(store), name, uri, run, force_push=seen_by_gate is None)


@pytest.mark.slow
def test_rollback_moves_the_alias_back_records_why_and_retires_the_serving_copy(
    tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    name, store = "rollback-model", tmp_path / "store"
    for weight in (0.5, 1.0, 1.5):
        assert _push(_mlflow_model(tmp_path, weight), store, name, tmp_mlflow_uri).champion
    stale = _push(_mlflow_model(tmp_path, 2.0), store, name, tmp_mlflow_uri, seen_by_gate="1")
    assert not stale.champion  # version 4: registered, never champion
    serving = store / name / "serving"
    assert sorted(path.name for path in serving.iterdir()) == ["1", "2", "3"]

    with pytest.raises(ServingError, match=f"refusing to roll back version 2 of {name}: the champion is version 3"):
        registry.roll_back(tmp_mlflow_uri, name, "2", "FROM names an older version")
    assert sorted(path.name for path in serving.iterdir()) == ["1", "2", "3"]  # refused: nothing changed
    assert registry.roll_back(tmp_mlflow_uri, name, "3", "p99 latency doubled") == ("3", "2")

    client = tracking.client(tmp_mlflow_uri)
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
    note = client.get_model_version(name, "3").tags[registry.ROLLED_BACK_TAG]
    assert note.startswith("rolled back to version 2 at ") and note.endswith(": p99 latency doubled")
    assert sorted(path.name for path in serving.iterdir()) == ["1", "2"]  # the newest is the champion again
    assert registry.roll_back(tmp_mlflow_uri, name, "2", "again") == ("2", "1")
    with pytest.raises(ServingError, match="version 1 has no earlier champion to roll back to"):
        registry.roll_back(tmp_mlflow_uri, name, "1", "once more")
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"


@pytest.mark.slow
def test_the_verbs_fail_with_one_line_and_change_nothing(
    tmp_mlflow_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "verbs-model"
    for weight in (0.5, 1.0):
        _push(_mlflow_model(tmp_path, weight), tmp_path / "store", name, tmp_mlflow_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tmp_mlflow_uri)
    monkeypatch.setenv("MODEL_NAME", name)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))

    def fails(argv: list[str], message: str) -> None:
        assert cli.main(argv) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and message in line, line

    fails(["deploy", "--version", "9"], f"model '{name}' has no version 9")
    fails(["rollback", "--from", "2"], "no Kubernetes cluster configured")
    fails(["rollback", "--from", "1"], f"refusing to roll back version 1 of {name}: the champion is version 2")
    # A kubeconfig naming a cluster that does not answer (a closed port on this machine).
    closed = tmp_path / "kubeconfig"
    closed.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
        "users": [{"name": "nobody", "user": {}}],
    }))  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(closed))
    fails(["promote"], "the cluster at http://127.0.0.1:9 does not answer")
    fails(["deploy"], "which a cluster cannot read: push to an S3 store")  # before any cluster call
    # Nothing changed in the registry: version 2 is still the champion, not rolled back.
    client = tracking.client(tmp_mlflow_uri)
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
    assert registry.ROLLED_BACK_TAG not in client.get_model_version(name, "2").tags


@pytest.mark.slow
def test_deploy_on_push_deploys_only_a_champion_and_needs_a_cluster_for_it(
    tmp_mlflow_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kfp import compiler

    from components.deploy.component import deploy
    from components.deploy.task import deploy_on_push
    from components.serve.verbs import Deployment

    name = "deployed-model"
    first = _push(_mlflow_model(tmp_path, 0.5), tmp_path / "store", name, tmp_mlflow_uri)
    stale = _push(_mlflow_model(tmp_path, 1.0), tmp_path / "store", name, tmp_mlflow_uri, seen_by_gate="none")
    deployment = Deployment(tmp_mlflow_uri, name, MINIKUBE)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    assert deploy_on_push(deployment, stale.model_version) == "version 2 is not the champion (1): nothing deployed"
    with pytest.raises(ServingError, match="a cluster cannot read"):  # rendered before any cluster call
        deploy_on_push(deployment, first.model_version)
    compiler.Compiler().compile(deploy, str(tmp_path / "deploy.yaml"))
    spec = yaml.safe_load((tmp_path / "deploy.yaml").read_text())
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert {"model_version", "serving_platform", "serving_runtime", "ready_timeout_s"} <= set(inputs)
