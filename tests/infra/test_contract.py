"""The cluster contract (components/common/cluster.py) holds across Terraform, manifests, scripts and the
compiled pipeline: a GPU pool labelled or tainted differently from what the train task selects would leave
the train pod Pending, found here instead of on a cluster."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
from infra_checks import INFRA, OVERLAYS, object_id

from components.common import cluster, object_store
from components.common.specs.vocabulary.privacy import PSEUDONYMIZE_KEY_SECRET, PSEUDONYMIZE_KEY_VARIABLE

pytestmark = pytest.mark.infra

# EKS spells taint effects in its API's enum.
EKS_TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
AUTOSCALER_TAG = "k8s.io/cluster-autoscaler/node-template"
PIPELINE_SUBJECT = f"system:serviceaccount:{cluster.PIPELINE_NAMESPACE}:{cluster.PIPELINE_SERVICE_ACCOUNT}"


def _node_group(terraform: dict[str, Any], name: str) -> dict[str, Any]:
    return terraform["resource"]["aws_eks_node_group"][name]


def _by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {object_id(obj): obj for obj in objects}


# ---------------------------------------------------------------- Terraform


def test_gpu_node_group_carries_the_label_and_taint_the_train_task_expects(terraform: dict[str, Any]) -> None:
    gpu = _node_group(terraform, "gpu")
    assert gpu["labels"] == {cluster.NODE_POOL_LABEL_KEY: cluster.GPU_NODE_POOL}
    assert gpu["taint"] == [
        {
            "key": cluster.GPU_TAINT_KEY,
            "value": cluster.GPU_TAINT_VALUE,
            "effect": EKS_TAINT_EFFECT[cluster.GPU_TAINT_EFFECT],
        }
    ]
    assert gpu["ami_type"].endswith("_NVIDIA"), "GPU nodes need the EKS NVIDIA AMI (drivers)"


def test_cpu_node_group_is_the_cpu_pool_and_untainted(terraform: dict[str, Any]) -> None:
    cpu = _node_group(terraform, "cpu")
    assert cpu["labels"] == {cluster.NODE_POOL_LABEL_KEY: cluster.CPU_NODE_POOL}
    assert "taint" not in cpu


def test_gpu_node_group_scales_from_zero_under_the_autoscaler(terraform: dict[str, Any]) -> None:
    gpu = _node_group(terraform, "gpu")
    scaling = gpu["scaling_config"][0]
    assert (scaling["min_size"], scaling["desired_size"]) == (0, 0)
    assert "${scaling_config[0].desired_size}" in gpu["lifecycle"][0]["ignore_changes"]
    tags = terraform["resource"]["aws_autoscaling_group_tag"]["gpu_node_template"]["for_each"]
    assert tags == {
        f"{AUTOSCALER_TAG}/label/{cluster.NODE_POOL_LABEL_KEY}": cluster.GPU_NODE_POOL,
        f"{AUTOSCALER_TAG}/taint/{cluster.GPU_TAINT_KEY}": f"{cluster.GPU_TAINT_VALUE}:{cluster.GPU_TAINT_EFFECT}",
    }


def test_irsa_roles_trust_the_pipeline_and_mlflow_service_accounts(
    terraform: dict[str, Any], rendered: dict[str, list[dict[str, Any]]]
) -> None:
    irsa = terraform["locals"]["irsa"]
    assert irsa["pipeline"]["subject"] == PIPELINE_SUBJECT
    mlflow = _by_id(rendered["eks"])["Deployment/tabular-mlops/mlflow"]
    mlflow_account = mlflow["spec"]["template"]["spec"]["serviceAccountName"]
    assert irsa["mlflow"]["subject"] == f"system:serviceaccount:tabular-mlops:{mlflow_account}"
    # The eks overlay annotates each ServiceAccount with the role Terraform names tabular-mlops-<key>.
    accounts = _by_id(rendered["eks"])
    for key, account in (
        ("pipeline", f"ServiceAccount/{cluster.PIPELINE_NAMESPACE}/{cluster.PIPELINE_SERVICE_ACCOUNT}"),
        ("mlflow", f"ServiceAccount/tabular-mlops/{mlflow_account}"),
    ):
        role_arn = accounts[account]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert re.fullmatch(rf"arn:aws[\w-]*:iam::\d{{12}}:role/tabular-mlops-{key}", role_arn), role_arn
    assert terraform["resource"]["aws_iam_role"]["irsa"]["name"] == "tabular-mlops-${each.key}"


def test_required_variables_are_validated(terraform: dict[str, Any]) -> None:
    for name, variable in terraform["variable"].items():
        assert variable.get("description") and variable.get("type"), f"variable {name} needs a description and a type"
        if "default" not in variable:
            assert variable.get("validation"), f"variable {name} has no default and no validation"


def _validation_regex(terraform: dict[str, Any], variable: str) -> re.Pattern[str]:
    condition = terraform["variable"][variable]["validation"][0]["condition"]
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition).group(1)
    return re.compile(pattern.replace("\\\\", "\\"))


@pytest.mark.parametrize(
    ("variable", "good", "bad"),
    [
        ("gpu_instance_types", ["g5.xlarge", "g6e.12xlarge", "p5.48xlarge", "p6-b200.48xlarge"], ["m6i.large", "g5"]),
        ("bucket_name", ["tabular-mlops-123456789012"], ["Tabular", "ab", "bucket_with_underscores"]),
        ("subnet_ids", ["subnet-0123456789abcdef0"], ["sg-0123456789abcdef0", "subnet-XYZ"]),
    ],
)
def test_variable_validations_accept_good_and_refuse_bad_values(
    terraform: dict[str, Any], variable: str, good: list[str], bad: list[str]
) -> None:
    pattern = _validation_regex(terraform, variable)
    assert all(pattern.search(value) for value in good)
    assert not any(pattern.search(value) for value in bad)


def test_outputs_cover_the_pipeline_settings(terraform: dict[str, Any]) -> None:
    assert {
        "model_store_uri",
        "data_uri_prefix",
        "mlflow_artifacts_destination",
        "pipeline_role_arn",
        "mlflow_role_arn",
        "region",
    } <= set(terraform["output"])


# ---------------------------------------------------------------- manifests


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pipeline_service_account_rbac_and_gpu_quota(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objects = _by_id(rendered[overlay])
    namespace, account = cluster.PIPELINE_NAMESPACE, cluster.PIPELINE_SERVICE_ACCOUNT
    assert f"ServiceAccount/{namespace}/{account}" in objects
    binding = next(
        obj for obj in objects.values() if obj["kind"] == "RoleBinding" and obj["metadata"]["namespace"] == namespace
    )
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    assert not [obj for obj in objects.values() if obj["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    quota = objects[f"ResourceQuota/{namespace}/gpu-quota"]
    assert f"requests.{cluster.GPU_RESOURCE}" in quota["spec"]["hard"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_object_store_config_map_is_where_every_task_reads_it(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, compiled_pipeline: list[dict[str, Any]]
) -> None:
    """Each overlay makes the ConfigMap, by its exact name, in the pipeline namespace, with only known keys."""
    name = f"ConfigMap/{cluster.PIPELINE_NAMESPACE}/{object_store.OBJECT_STORE_CONFIG_MAP}"
    config_map = _by_id(rendered[overlay])[name]
    assert set(config_map["data"]) <= set(object_store.OBJECT_STORE_VARIABLES)
    assert config_map["data"]["AWS_DEFAULT_REGION"]
    _, executors = _train_config(compiled_pipeline)
    for executor in ("exec-validate", "exec-transform", "exec-train", "exec-evaluate", "exec-push"):
        names = {entry["configMapName"] for entry in executors[executor]["configMapAsEnv"]}
        assert object_store.OBJECT_STORE_CONFIG_MAP in names, executor


def test_device_plugin_runs_on_gpu_nodes_despite_their_taint(rendered: dict[str, list[dict[str, Any]]]) -> None:
    spec = _by_id(rendered["eks"])["DaemonSet/kube-system/nvidia-device-plugin"]["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {cluster.NODE_POOL_LABEL_KEY: cluster.GPU_NODE_POOL}
    assert any(_tolerates(toleration, GPU_TAINT) for toleration in spec["tolerations"])


GPU_TAINT = {"key": cluster.GPU_TAINT_KEY, "value": cluster.GPU_TAINT_VALUE, "effect": cluster.GPU_TAINT_EFFECT}


def _tolerates(toleration: dict[str, Any], taint: dict[str, str]) -> bool:
    """Whether a toleration lets a pod onto a node with this taint (Kubernetes' matching rules)."""
    if toleration.get("effect") not in (None, taint["effect"]):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return toleration.get("key") in (None, taint["key"])
    return (toleration.get("key"), toleration.get("value")) == (taint["key"], taint["value"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_admits_pipeline_pods_from_the_pipeline_namespace(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    policy = _by_id(rendered[overlay])["NetworkPolicy/tabular-mlops/mlflow-from-pipelines-and-ui"]
    sources = policy["spec"]["ingress"][0]["from"]
    namespaces = [source["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for source in sources]
    assert cluster.PIPELINE_NAMESPACE in namespaces


def test_secret_script_creates_the_pipeline_secrets_with_their_keys() -> None:
    """infra/scripts/create-secrets.sh makes each contract Secret in the pipeline namespace with exactly its keys."""
    script = (INFRA / "scripts" / "create-secrets.sh").read_text().replace("\\\n", " ")
    created: dict[str, list[set[str]]] = {}
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["create_secret", "$PIPELINE_NAMESPACE"]:
            created.setdefault(words[2], []).append({word.split("=", 1)[0] for word in words[3:]})
    for name, keys in (
        (cluster.S3_CREDENTIALS_SECRET, cluster.S3_CREDENTIAL_KEYS),
        (cluster.MLFLOW_CREDENTIALS_SECRET, cluster.MLFLOW_CREDENTIAL_KEYS),
        (PSEUDONYMIZE_KEY_SECRET, (PSEUDONYMIZE_KEY_VARIABLE,)),
    ):
        assert created.get(name), f"create-secrets.sh never creates {cluster.PIPELINE_NAMESPACE}/{name}"
        assert all(made == set(keys) for made in created[name]), f"{name}: created with {created[name]}, need {keys}"


def test_minikube_node_is_in_the_pool_the_train_task_selects_and_runs_without_gpus_train_on_the_cpu() -> None:
    """With or without MINIKUBE_GPUS, the one node must match train's node selector, or train stays Pending;
    without GPUs test-minikube.sh passes --gpus 0 so that train requests no nvidia.com/gpu."""
    up = (INFRA / "scripts" / "minikube-up.sh").read_text()
    labels = [shlex.split(line) for line in up.splitlines() if line.startswith("kubectl label nodes")]
    assert labels == [
        ["kubectl", "label", "nodes", "--all", "--overwrite", f"{cluster.NODE_POOL_LABEL_KEY}={cluster.GPU_NODE_POOL}"]
    ]
    test = (INFRA / "scripts" / "test-minikube.sh").read_text().replace("\\\n", " ")
    runs = [shlex.split(line, comments=True) for line in test.splitlines() if "pipelines run-remote" in line]
    assert len(runs) == 3, runs
    single = [words for words in runs if "TRAIN_WORKERS=2" not in words]
    assert len(single) == 2 and all("--gpus" in words and "$train_gpus" in words for words in single), runs
    # Two one-GPU workers would wait forever on a one-GPU minikube: the two-worker run asks for none.
    (workers,) = [words for words in runs if "TRAIN_WORKERS=2" in words]
    assert workers[workers.index("--gpus") + 1] == "0"
    assert 'TRAIN_WORKERS=2 "$PY" -m pipelines deploy' in test
    assert re.search(r"if \[\[ -z \$gpus \|\| \$gpus == 0 \]\]; then\n\s+train_gpus=0\n", test)


# ---------------------------------------------------------------- compiled pipeline


def _train_config(compiled_pipeline: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = compiled_pipeline[0]
    container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    platform = next((doc for doc in compiled_pipeline[1:] if "platforms" in doc), {})
    executors = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
    return container, executors


def test_compiled_train_task_lands_on_the_terraform_gpu_pool(
    compiled_pipeline: list[dict[str, Any]], terraform: dict[str, Any]
) -> None:
    container, executors = _train_config(compiled_pipeline)
    assert "exec-train" in executors, "the compiled pipeline has no Kubernetes platform config for the train task"
    train = executors["exec-train"]
    gpu = _node_group(terraform, "gpu")
    assert train["nodeSelector"]["labels"] == gpu["labels"]
    taint = dict(gpu["taint"][0])
    taint["effect"] = {eks: k8s for k8s, eks in EKS_TAINT_EFFECT.items()}[taint["effect"]]
    assert any(_tolerates(toleration, taint) for toleration in train["tolerations"]), (
        f"train tolerations {train['tolerations']} do not tolerate the GPU node group's taint {taint}"
    )
    accelerator = container["resources"]["accelerator"]
    assert cluster.GPU_RESOURCE in (accelerator.get("resourceType"), accelerator.get("type"))


def test_compiled_tasks_read_the_secrets_the_script_creates(compiled_pipeline: list[dict[str, Any]]) -> None:
    _, executors = _train_config(compiled_pipeline)
    expected = {
        cluster.S3_CREDENTIALS_SECRET: set(cluster.S3_CREDENTIAL_KEYS),
        cluster.MLFLOW_CREDENTIALS_SECRET: set(cluster.MLFLOW_CREDENTIAL_KEYS),
    }
    # A Secret named by a run parameter (the pseudonymisation key's) is the one its default names.
    parameters = compiled_pipeline[0]["root"]["inputDefinitions"]["parameters"]

    def name(entry: dict[str, Any]) -> str:
        given = entry.get("secretNameParameter", {}).get("componentInputParameter", "")
        return entry.get("secretName") or parameters[given.removeprefix("pipelinechannel--")]["defaultValue"]

    key = {PSEUDONYMIZE_KEY_SECRET: {PSEUDONYMIZE_KEY_VARIABLE}}
    for executor in ("exec-validate", "exec-transform", "exec-train", "exec-evaluate", "exec-push"):
        secrets = {
            name(entry): {pair["secretKey"] for pair in entry["keyToEnv"]}
            for entry in executors.get(executor, {}).get("secretAsEnv", [])
        }
        wanted = {**expected, **key} if executor in ("exec-validate", "exec-transform") else expected
        assert secrets == wanted, f"{executor} reads {secrets}, the cluster's Secrets hold {wanted}"
