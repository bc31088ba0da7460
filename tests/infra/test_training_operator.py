"""The TFJob and the Katib Experiment the pipeline creates, checked offline field by field: against the
operators' own published OpenAPI definitions (pinned copies in infra/training-operator and infra/katib,
strict: an unknown field is an error), their pod templates against Kubernetes 1.33's schemas, and the
values that matter (replicas, image, resources, toleration, selector, env, objective) against the project's
settings. Then the RBAC that lets the pipeline create and watch exactly these, and the create-and-watch
loop against a Kubernetes API on 127.0.0.1 that moves a job through its states."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from fake_kubernetes import fake_kubernetes
from infra_checks import INFRA, restricted_violations

from components.common import cluster, object_store
from components.common.specs.base import Binary, Regression
from components.tasks import task_for
from components.train import distributed, worker_pod
from components.train.distributed import WorkerPool, render_tfjob, staging_uri, worker_args
from components.train.hyperparameters import Hyperparameters, with_values
from components.tune import katib
from components.tune.space import SearchSpace

pytestmark = pytest.mark.infra

KUBERNETES_VERSION = "1.33.0"
TRAINING_OPENAPI = INFRA / "training-operator" / f"openapi-{distributed.TRAINING_OPERATOR_VERSION}.json"
KATIB_OPENAPI = INFRA / "katib" / f"openapi-{katib.KATIB_VERSION}.json"
IMAGE = "ghcr.io/tabular-mlops/trainer:0123456789ab"
POOL = WorkerPool(3, IMAGE, 1, cluster.NODE_POOL_LABEL_KEY, cluster.GPU_NODE_POOL)
ARGS = worker_args(
    "modeldata_taxi",
    "s3://b/root/graph",
    "s3://b/root/examples",
    staging_uri("s3://b/root/model"),
    {"epochs": 5},
    "",
    "",
)


def openapi_errors(document: Path, root: str, obj: dict[str, Any]) -> list[str]:
    """Errors of `obj` against definition `root` of a Swagger 2.0 document, every object closed to unknown
    fields. References to Kubernetes' own types are left open here: the pod templates and metadata are
    checked against Kubernetes' schemas instead."""
    definitions = copy.deepcopy(json.loads(document.read_text())["definitions"])
    for definition in definitions.values():
        if definition.get("type") == "object" and "properties" in definition:
            definition.setdefault("additionalProperties", False)
    referenced = set(re.findall(r'"#/definitions/([^"]+)"', json.dumps(definitions)))
    for name in referenced - set(definitions):
        definitions[name] = {}
    validator = jsonschema.Draft4Validator({"definitions": definitions, "$ref": f"#/definitions/{root}"})
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(obj)]


def kubernetes_errors(obj: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


def pod_template_errors(template: dict[str, Any]) -> list[str]:
    wrapped = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
    return kubernetes_errors(wrapped)


@pytest.fixture(scope="module")
def tfjob() -> dict[str, Any]:
    return render_tfjob(distributed.job_name("s3://b/root/model"), cluster.PIPELINE_NAMESPACE, POOL, ARGS)


def test_the_tfjob_is_what_the_operator_accepts(tfjob: dict[str, Any]) -> None:
    assert openapi_errors(TRAINING_OPENAPI, "kubeflow.org.v1.TFJob", tfjob) == []
    template = tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]
    assert pod_template_errors(template) == []
    metadata = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": tfjob["metadata"]}
    assert kubernetes_errors(metadata) == []
    # The operator's admission webhook (v1.9): a DNS-1035 name, a container named "tensorflow" with an image.
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", tfjob["metadata"]["name"])
    assert [container["name"] for container in template["spec"]["containers"]] == [distributed.CONTAINER]


def test_the_validation_catches_a_wrong_field(tfjob: dict[str, Any]) -> None:
    broken = copy.deepcopy(tfjob)
    broken["spec"]["tfReplicaSpecs"]["Worker"]["replica"] = 2
    broken["spec"]["runPolicy"]["backoffLimit"] = "three"
    errors = openapi_errors(TRAINING_OPENAPI, "kubeflow.org.v1.TFJob", broken)
    assert len(errors) == 2 and any("'replica' was unexpected" in e for e in errors), errors
    template = broken["spec"]["tfReplicaSpecs"]["Worker"]["template"]
    template["spec"]["containers"][0]["resourses"] = {}
    assert len(pod_template_errors(template)) == 1


def test_the_tfjob_asks_for_what_the_workers_need(tfjob: dict[str, Any]) -> None:
    spec = tfjob["spec"]
    worker = spec["tfReplicaSpecs"]["Worker"]
    assert list(spec["tfReplicaSpecs"]) == ["Worker"] and worker["replicas"] == 3
    assert worker["restartPolicy"] == "OnFailure" and spec["successPolicy"] == "AllWorkers"
    assert spec["runPolicy"]["cleanPodPolicy"] == "Running" and spec["runPolicy"]["backoffLimit"] == 3
    pod = worker["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    resources = container["resources"]
    assert resources["requests"][cluster.GPU_RESOURCE] == resources["limits"][cluster.GPU_RESOURCE] == "1"
    assert resources["requests"]["cpu"] == "2" and resources["limits"]["memory"] == "16Gi"
    assert pod["tolerations"] == [
        {
            "key": cluster.GPU_TAINT_KEY,
            "operator": "Equal",
            "value": cluster.GPU_TAINT_VALUE,
            "effect": cluster.GPU_TAINT_EFFECT,
        }
    ]
    assert pod["nodeSelector"] == {cluster.NODE_POOL_LABEL_KEY: cluster.GPU_NODE_POOL}
    assert pod["serviceAccountName"] == cluster.PIPELINE_SERVICE_ACCOUNT
    assert pod["priorityClassName"] == worker_pod.TRAINING_PRIORITY_CLASS
    env = {item["name"]: item for item in container["env"]}
    for key in cluster.S3_CREDENTIAL_KEYS:
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": cluster.S3_CREDENTIALS_SECRET, "key": key}
    for key in object_store.OBJECT_STORE_VARIABLES:
        assert env[key]["valueFrom"]["configMapKeyRef"]["name"] == object_store.OBJECT_STORE_CONFIG_MAP
    assert "TF_CONFIG" not in env  # the operator sets it, per worker
    assert container["command"][:3] == ["python3", "-m", "components.train.workers"]
    command = container["command"][3:]
    assert command[: len(ARGS)] == ARGS and command[len(ARGS) :] == ["--backup-dir", distributed.BACKUP_MOUNT]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes[mounts[distributed.BACKUP_MOUNT]] == {"name": "backup", "emptyDir": {}}
    pod_object = {"kind": "Pod", "metadata": {"name": "worker"}, "spec": pod}
    assert list(restricted_violations(pod_object)) == []


def test_a_cpu_pool_asks_for_no_gpu_and_tolerates_no_taint() -> None:
    cpu_pool = WorkerPool(2, IMAGE, 0, cluster.NODE_POOL_LABEL_KEY, cluster.CPU_NODE_POOL)
    pod = render_tfjob("tabular-train-x", "kubeflow", cpu_pool, ARGS)["spec"]["tfReplicaSpecs"]["Worker"]["template"]
    (container,) = pod["spec"]["containers"]
    assert cluster.GPU_RESOURCE not in container["resources"]["limits"] and "tolerations" not in pod["spec"]
    with pytest.raises(ValueError, match="2 or more workers"):
        render_tfjob("tabular-train-x", "kubeflow", WorkerPool(1, IMAGE, 0, "k", "v"), ARGS)


# ---------------------------------------------------------------- Katib


def _experiment(kind: Binary | Regression, space: SearchSpace | None = None) -> dict[str, Any]:
    base = Hyperparameters(epochs=7, seed=3)
    pool = WorkerPool(1, IMAGE, 1, cluster.NODE_POOL_LABEL_KEY, cluster.GPU_NODE_POOL)
    budget = katib.TrialBudget(trials=8, parallel_trials=2)
    inputs = ("s3://b/root/graph", "s3://b/root/examples")
    return katib.render_experiment(
        katib.experiment_name("run-1"),
        "kubeflow",
        task_for(kind),
        space or SearchSpace(),
        budget,
        base,
        pool,
        "taxi",
        inputs,
    )


def test_the_experiment_is_what_katib_accepts() -> None:
    experiment = _experiment(Binary())
    assert openapi_errors(KATIB_OPENAPI, "v1beta1.Experiment", experiment) == []
    job = experiment["spec"]["trialTemplate"]["trialSpec"]
    assert kubernetes_errors({**job, "metadata": {"name": "trial"}}) == []
    broken = copy.deepcopy(experiment)
    broken["spec"]["objective"]["metricName"] = "val_auc"
    assert len(openapi_errors(KATIB_OPENAPI, "v1beta1.Experiment", broken)) == 1
    # Values Katib's types and its v0.19 katib-config accept, which OpenAPI does not spell out.
    spec = experiment["spec"]
    assert spec["algorithm"]["algorithmName"] in {"tpe", "bayesianoptimization", "random"}
    assert spec["earlyStopping"]["algorithmName"] == "medianstop"
    assert spec["metricsCollectorSpec"]["collector"]["kind"] == "StdOut"
    assert {p["parameterType"] for p in spec["parameters"]} <= {"double", "int", "discrete", "categorical"}


@pytest.mark.parametrize(
    ("kind", "metric", "direction"), [(Binary(), "val_auc", "maximize"), (Regression(), "val_loss", "minimize")]
)
def test_the_objective_is_the_tasks_validation_metric(kind: Binary | Regression, metric: str, direction: str) -> None:
    task = task_for(kind)
    assert task.early_stopping_monitor == metric
    objective = _experiment(kind)["spec"]["objective"]
    assert objective["objectiveMetricName"] == metric and objective["type"] == direction
    assert objective["metricStrategies"] == [{"name": metric, "value": "max" if direction == "maximize" else "min"}]


def test_the_budget_caps_trials_and_their_gpus() -> None:
    spec = _experiment(Binary())["spec"]
    assert spec["maxTrialCount"] == 8 and spec["parallelTrialCount"] == 2 and spec["maxFailedTrialCount"] == 3
    pod = spec["trialTemplate"]["trialSpec"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["name"] == spec["trialTemplate"]["primaryContainerName"]
    assert container["resources"]["limits"][cluster.GPU_RESOURCE] == "1"
    assert pod["spec"]["nodeSelector"] == {cluster.NODE_POOL_LABEL_KEY: cluster.GPU_NODE_POOL}
    assert (
        pod["spec"]["restartPolicy"] == "Never"
        and pod["metadata"]["labels"]["app.kubernetes.io/component"] == "tune-trial"
    )


def test_a_trial_gets_its_values_as_hyperparameters_the_worker_reads() -> None:
    """Katib writes each trial's values where its placeholders are; what results is JSON the worker parses."""
    space = SearchSpace(hidden_units=("64-32", "16"), batch_size=(32, 128))
    spec = _experiment(Binary(), space)["spec"]
    by_name = {parameter["name"]: parameter for parameter in spec["parameters"]}
    assert by_name["learning_rate"]["feasibleSpace"] == {"min": "0.0003", "max": "0.01", "distribution": "logUniform"}
    assert by_name["hidden_units"]["feasibleSpace"] == {"list": ["64-32", "16"]}
    assert by_name["batch_size"]["feasibleSpace"] == {"list": ["32", "128"]}
    template = spec["trialTemplate"]
    assert {p["reference"] for p in template["trialParameters"]} == set(by_name)
    command = template["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]
    text = command[command.index("--hyperparameters") + 1]
    assignment = {"learningRate": "0.0021", "hiddenUnits": "64-32", "dropout": "0.15", "batchSize": "128"}
    for name, value in assignment.items():
        text = text.replace(f"${{trialParameters.{name}}}", value)
    values = json.loads(text)
    tuned = {key: values.pop(key) for key in ("learning_rate", "hidden_units", "dropout", "batch_size")}
    hyperparameters = with_values(Hyperparameters(**values), tuned)
    assert hyperparameters == Hyperparameters(
        epochs=7, seed=3, learning_rate=0.0021, hidden_units=(64, 32), dropout=0.15, batch_size=128
    )


def test_katib_trials_become_the_search_result() -> None:
    experiment = _experiment(Binary())
    experiment["status"] = {
        "currentOptimalTrial": {"parameterAssignments": [{"name": "learning_rate", "value": "0.002"}]},
    }
    trials = [
        {
            "metadata": {"name": f"t{index}"},
            "spec": {"parameterAssignments": [{"name": "learning_rate", "value": rate}]},
            "status": {
                "conditions": [{"type": "Created", "status": "True"}, {"type": state, "status": "True"}],
                "observation": {"metrics": [{"name": "val_auc", "max": auc, "min": "0.5", "latest": "0.6"}]},
            },
        }
        for index, (rate, auc, state) in enumerate(
            [("0.002", "0.91", "Succeeded"), ("0.01", "unavailable", "EarlyStopped")]
        )
    ]
    result = katib.search_result(experiment, trials)
    assert result.best == {"learning_rate": "0.002"} and result.objective == "val_auc" and result.maximise
    assert [(t.name, t.objective_value, t.status) for t in result.trials] == [
        ("t0", 0.91, "Succeeded"),
        ("t1", None, "EarlyStopped"),
    ]


# ---------------------------------------------------------------- owned by the launcher pod

POD_NAME, POD_UID = "tabular-training-abcde-system-container-impl-1234", "6f1c2a4e-9b3d-4c5e-8f70-1a2b3c4d5e6f"


def test_in_the_launcher_pod_the_jobs_are_its_dependents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes deletes the TFJob and the Experiment (and so their pods) when the launcher pod is deleted."""
    monkeypatch.setenv(cluster.LAUNCHER_POD_NAME_ENV, POD_NAME)
    monkeypatch.setenv(cluster.LAUNCHER_POD_UID_ENV, POD_UID)
    owner = {"apiVersion": "v1", "kind": "Pod", "name": POD_NAME, "uid": POD_UID, "blockOwnerDeletion": False}
    rendered = (
        (render_tfjob("tabular-train-x", "kubeflow", POOL, ARGS), TRAINING_OPENAPI, "kubeflow.org.v1.TFJob"),
        (_experiment(Binary()), KATIB_OPENAPI, "v1beta1.Experiment"),
    )
    for job, document, root in rendered:
        assert job["metadata"]["ownerReferences"] == [owner]
        assert openapi_errors(document, root, job) == []
        assert kubernetes_errors({"apiVersion": "v1", "kind": "ConfigMap", "metadata": job["metadata"]}) == []


def test_outside_a_pipeline_pod_the_jobs_have_no_owner(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(cluster.LAUNCHER_POD_NAME_ENV, raising=False)
    monkeypatch.delenv(cluster.LAUNCHER_POD_UID_ENV, raising=False)
    assert "ownerReferences" not in render_tfjob("tabular-train-x", "kubeflow", POOL, ARGS)["metadata"]
    assert "ownerReferences" not in _experiment(Binary())["metadata"]
    assert capsys.readouterr().out.count("unset (not a pipeline pod): the job gets no owner") == 2
    # Half a pod, or a UID that is none, is a broken pipeline spec: refused, not ignored.
    monkeypatch.setenv(cluster.LAUNCHER_POD_NAME_ENV, POD_NAME)
    with pytest.raises(ValueError, match="LAUNCHER_POD_UID=''.*expected a pod name and a lower-case UUID"):
        render_tfjob("tabular-train-x", "kubeflow", POOL, ARGS)
    monkeypatch.setenv(cluster.LAUNCHER_POD_UID_ENV, "not-a-uid")
    with pytest.raises(ValueError, match="LAUNCHER_POD_UID='not-a-uid'"):
        _experiment(Binary())


# ---------------------------------------------------------------- RBAC, network, pins


def _objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize(
    ("path", "rules"),
    [
        (
            INFRA / "training-operator" / "pipeline-rbac.yaml",
            [("kubeflow.org", "tfjobs", {"create", "get", "list", "watch", "delete"}), ("", "pods/log", {"get"})],
        ),
        (
            INFRA / "katib" / "pipeline-rbac.yaml",
            [
                ("kubeflow.org", "experiments", {"create", "get", "list", "watch", "delete"}),
                ("kubeflow.org", "trials", {"get", "list", "watch"}),
            ],
        ),
    ],
)
def test_the_pipeline_may_create_and_watch_these_jobs_only(path: Path, rules: list[tuple[str, str, set[str]]]) -> None:
    objects = {obj["kind"]: obj for obj in _objects(path)}
    assert sorted(objects) == ["Role", "RoleBinding"]
    for obj in objects.values():
        assert kubernetes_errors(obj) == [], path
        assert obj["metadata"]["namespace"] == cluster.PIPELINE_NAMESPACE
    granted = [(r["apiGroups"][0], r["resources"][0], set(r["verbs"])) for r in objects["Role"]["rules"]]
    assert all(
        len(r["apiGroups"]) == len(r["resources"]) == 1 and "resourceNames" not in r for r in objects["Role"]["rules"]
    )
    assert granted == rules
    binding = objects["RoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": objects["Role"]["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": cluster.PIPELINE_SERVICE_ACCOUNT, "namespace": cluster.PIPELINE_NAMESPACE}
    ]


def test_minio_admits_the_workers_and_trials_the_pods_label() -> None:
    (policy,) = _objects(INFRA / "training-operator" / "minio-from-workers.yaml")
    assert kubernetes_errors(policy) == []
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    assert source["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": cluster.PIPELINE_NAMESPACE}
    wanted = {e["key"]: set(e["values"]) for e in source["podSelector"]["matchExpressions"]}
    for labels in (
        render_tfjob("j", "kubeflow", POOL, ARGS)["spec"]["tfReplicaSpecs"]["Worker"]["template"]["metadata"]["labels"],
        _experiment(Binary())["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["metadata"]["labels"],
    ):
        assert all(labels[key] in values for key, values in wanted.items()), labels


def _script_default(name: str) -> str:
    text = (INFRA / "scripts" / "minikube-up.sh").read_text()
    found = re.search(rf"^{name}=\$\{{{name}:-([^}}]+)\}}$", text, re.MULTILINE)
    assert found, f"minikube-up.sh sets no {name}=${{{name}:-...}}"
    return found.group(1)


def test_the_installs_are_pinned_to_the_versions_the_objects_are_checked_against() -> None:
    assert _script_default("TRAINING_OPERATOR_VERSION") == distributed.TRAINING_OPERATOR_VERSION
    assert _script_default("KATIB_VERSION") == katib.KATIB_VERSION
    assert TRAINING_OPENAPI.exists() and KATIB_OPENAPI.exists()
    assert json.loads(TRAINING_OPENAPI.read_text())["info"]["version"] == distributed.TRAINING_OPERATOR_VERSION
    script = (INFRA / "scripts" / "minikube-up.sh").read_text()
    lines = script.replace("\\\n", " ").splitlines()
    applied = [shlex.split(line) for line in lines if line.strip().startswith("kubectl apply")]
    files = {words[index + 1] for words in applied for index, word in enumerate(words) if word == "-f"}
    assert {
        "infra/training-operator/pipeline-rbac.yaml",
        "infra/katib/pipeline-rbac.yaml",
        "infra/training-operator/minio-from-workers.yaml",
    } <= files


# ---------------------------------------------------------------- create and watch, against an API on 127.0.0.1


def test_the_step_creates_the_job_and_follows_it_to_success(tfjob: dict[str, Any]) -> None:
    said: list[str] = []
    with fake_kubernetes([["Created"], ["Created", "Running"], ["Created", "Succeeded"]]) as (custom, core, server):
        distributed.run_tfjob(custom, core, tfjob, poll_s=0.01, timeout_s=30, say=said.append)
    posts = [body for method, _, body in server.requests if method == "POST"]
    assert posts == [tfjob]
    assert server.requests[0][1] == "/apis/kubeflow.org/v1/namespaces/kubeflow/tfjobs"
    assert said[0].startswith("created TFJob kubeflow/") and "3 workers" in said[0]
    assert [line.split(": ", 1)[1].split(" ")[0] for line in said[1:]] == ["Created", "Created,", "Created,"]
    assert "Succeeded" in said[-1]


def test_a_failed_job_fails_the_step_quoting_the_failed_worker(tfjob: dict[str, Any]) -> None:
    with fake_kubernetes([["Created"], ["Created", "Failed"]]) as (custom, core, _):
        with pytest.raises(distributed.TFJobFailed, match=r"(?s)failed: job failed.*worker-1.*too few rows"):
            distributed.run_tfjob(custom, core, tfjob, poll_s=0.01, timeout_s=30, say=lambda line: None)


def test_a_job_an_earlier_attempt_left_failed_is_replaced(tfjob: dict[str, Any]) -> None:
    name = tfjob["metadata"]["name"]
    failed = {**tfjob, "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    with fake_kubernetes([["Succeeded"]], existing={name: failed}) as (custom, core, server):
        distributed.run_tfjob(custom, core, tfjob, poll_s=0.01, timeout_s=30, say=lambda line: None)
    methods = [method for method, _, _ in server.requests]
    assert methods[:3] == ["POST", "GET", "DELETE"] and methods.count("POST") == 2


def test_a_job_past_its_time_is_deleted(tfjob: dict[str, Any]) -> None:
    with fake_kubernetes([["Created", "Running"]]) as (custom, core, server):
        with pytest.raises(TimeoutError, match="did not finish within"):
            distributed.run_tfjob(custom, core, tfjob, poll_s=0.01, timeout_s=0.2, say=lambda line: None)
    assert server.requests[-1][0] == "DELETE" and server.jobs == {}
