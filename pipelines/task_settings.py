"""How a pipeline's tasks are scheduled on a cluster: retries, Secrets and ConfigMaps for every task on the
network, the pseudonymisation key for the steps that treat values, the GPU node for train, and the downward
API for the steps that launch GPU jobs. kfp.local ignores
all of it, so the same pipelines run locally."""

from kfp import kubernetes
from kfp.dsl import PipelineTask
from kfp.dsl.pipeline_channel import PipelineParameterChannel

from components.common.cluster import (
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LAUNCHER_POD_NAME_ENV,
    LAUNCHER_POD_UID_ENV,
    MLFLOW_CREDENTIAL_KEYS,
    MLFLOW_CREDENTIALS_SECRET,
    S3_CREDENTIAL_KEYS,
    S3_CREDENTIALS_SECRET,
)
from components.common.object_store import OBJECT_STORE_CONFIG_MAP, OBJECT_STORE_VARIABLES
from components.common.specs.vocabulary.privacy import PSEUDONYMIZE_KEY_VARIABLE
from components.runs.run_metrics import GATEWAY_CONFIG_MAP, GATEWAY_VARIABLE

# What the train pod asks of its GPU node (Kubernetes quantities).
TRAIN_CPU_REQUEST, TRAIN_CPU_LIMIT = "2", "8"
TRAIN_MEMORY_REQUEST, TRAIN_MEMORY_LIMIT = "8Gi", "16Gi"

# Every step reads or writes MLflow and the object store over the network: transient failures are retried,
# 30 s, 60 s, 120 s apart. Train retries once only: its failures are rarely transient and GPU time is dear.
RETRIES, TRAIN_RETRIES = 3, 1
RETRY_BACKOFF, RETRY_BACKOFF_FACTOR, RETRY_BACKOFF_MAX = "30s", 2.0, "600s"


def on_the_network(task: PipelineTask, retries: int = RETRIES) -> PipelineTask:
    """Retries with backoff; S3 and MLflow credentials from the cluster's Secrets (the spec holds only names);
    the object store's region and encryption from its ConfigMap (optional: AWS's defaults without it);
    PUSHGATEWAY_URL from the monitoring ConfigMap when the cluster has one (optional: no run metrics without it)."""
    if retries:
        task.set_retry(
            num_retries=retries,
            backoff_duration=RETRY_BACKOFF,
            backoff_factor=RETRY_BACKOFF_FACTOR,
            backoff_max_duration=RETRY_BACKOFF_MAX,
        )
    for secret, keys in (
        (S3_CREDENTIALS_SECRET, S3_CREDENTIAL_KEYS),
        (MLFLOW_CREDENTIALS_SECRET, MLFLOW_CREDENTIAL_KEYS),
    ):
        kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={key: key for key in keys})
    kubernetes.use_config_map_as_env(
        task, OBJECT_STORE_CONFIG_MAP, {name: name for name in OBJECT_STORE_VARIABLES}, optional=True
    )
    kubernetes.use_config_map_as_env(task, GATEWAY_CONFIG_MAP, {GATEWAY_VARIABLE: GATEWAY_VARIABLE}, optional=True)
    return task


def treats_values(task: PipelineTask, key_secret: PipelineParameterChannel | str) -> PipelineTask:
    """PSEUDONYMIZE_KEY from the Secret the run names (`pseudonymize_key_secret`), for a step that treats a
    sensitive value outside the graph or builds the graph: validate (the baseline), transform, infra-validate
    (the server's request log), monitor. The Secret must exist even for a spec that pseudonymises nothing
    (infra/scripts/create-secrets.sh makes one); a spec that pseudonymises refuses an empty or short key."""
    kubernetes.use_secret_as_env(
        task, secret_name=key_secret, secret_key_to_env={PSEUDONYMIZE_KEY_VARIABLE: PSEUDONYMIZE_KEY_VARIABLE}
    )
    return task


def launches_gpu_jobs(task: PipelineTask) -> PipelineTask:
    """The pod's own name and UID (downward API): the TFJob or Katib Experiment it creates names the pod as
    its owner, so Kubernetes deletes the job with the pod (components.common.launched_jobs)."""
    kubernetes.use_field_path_as_env(task, LAUNCHER_POD_NAME_ENV, "metadata.name")
    kubernetes.use_field_path_as_env(task, LAUNCHER_POD_UID_ENV, "metadata.uid")
    return task


def on_a_gpu_node(task: PipelineTask, gpus: int, label_key: str, label_value: str) -> PipelineTask:
    """GPUs requested, the GPU taint tolerated and the GPU pool selected; CPU and memory bounded."""
    task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(gpus)
    task.set_cpu_request(TRAIN_CPU_REQUEST).set_cpu_limit(TRAIN_CPU_LIMIT)
    task.set_memory_request(TRAIN_MEMORY_REQUEST).set_memory_limit(TRAIN_MEMORY_LIMIT)
    kubernetes.add_toleration(task, key=GPU_TAINT_KEY, operator="Equal", value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT)
    kubernetes.add_node_selector(task, label_key=label_key, label_value=label_value)
    return task
