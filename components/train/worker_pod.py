"""The pod a GPU worker runs in, for a TFJob's workers and a Katib trial alike: the trainer image, the
pool's resources and GPU scheduling, the object store's credentials, a restricted container."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from components.common.cluster import (
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    PIPELINE_SERVICE_ACCOUNT,
    S3_CREDENTIAL_KEYS,
    S3_CREDENTIALS_SECRET,
)
from components.common.object_store import OBJECT_STORE_CONFIG_MAP, OBJECT_STORE_VARIABLES

TRAINING_PRIORITY_CLASS = "tabular-mlops-training"
# The trainer image's user (components/train/Dockerfile).
TRAINER_UID = 10001


@dataclass(frozen=True)
class WorkerPool:
    """What each worker pod asks of the cluster: GPU workers go to the GPU pool, tolerating its taint."""

    workers: int
    image: str
    gpus_per_worker: int
    node_label_key: str
    node_label_value: str
    cpu_request: str = "2"
    cpu_limit: str = "8"
    memory_request: str = "8Gi"
    memory_limit: str = "16Gi"
    service_account: str = PIPELINE_SERVICE_ACCOUNT
    # How often the operator restarts a failed worker (the job fails after that) and the job's time limit.
    backoff_limit: int = 3
    active_deadline_s: int = 6 * 3600
    env: Mapping[str, str] = field(default_factory=dict)


def render_worker_pod(pool: WorkerPool, container_name: str, command: list[str], component: str) -> dict[str, Any]:
    """A pod template for one worker (or one tuning trial): the pool's image, resources, GPU scheduling,
    the object store's credentials and settings, a non-root read-only container, scratch on /tmp."""
    requests: dict[str, str] = {"cpu": pool.cpu_request, "memory": pool.memory_request}
    limits: dict[str, str] = {"cpu": pool.cpu_limit, "memory": pool.memory_limit}
    if pool.gpus_per_worker > 0:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(pool.gpus_per_worker)
    # The root file system is read-only: home (Keras's config, any cache) is the scratch volume.
    plain = {"HOME": "/tmp", **pool.env}
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in sorted(plain.items())]
    env += [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": S3_CREDENTIALS_SECRET, "key": key}}}
        for key in S3_CREDENTIAL_KEYS
    ]
    env += [
        {"name": key, "valueFrom": {"configMapKeyRef": {"name": OBJECT_STORE_CONFIG_MAP, "key": key, "optional": True}}}
        for key in OBJECT_STORE_VARIABLES
    ]
    container = {
        "name": container_name,
        "image": pool.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": env,
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": TRAINER_UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    spec: dict[str, Any] = {
        "serviceAccountName": pool.service_account,
        "priorityClassName": TRAINING_PRIORITY_CLASS,
        "containers": [container],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "nodeSelector": {pool.node_label_key: pool.node_label_value},
    }
    if pool.gpus_per_worker > 0:
        spec["tolerations"] = [
            {"key": GPU_TAINT_KEY, "operator": "Equal", "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}
        ]
    labels = {"app.kubernetes.io/part-of": "tabular-mlops", "app.kubernetes.io/component": component}
    return {"metadata": {"labels": labels}, "spec": spec}
