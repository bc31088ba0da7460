"""Training on several workers: a Kubeflow Training Operator `TFJob` on a cluster, local processes elsewhere.

Why TFJob (training-operator v1.9) and not Kubeflow Trainer v2's `TrainJob`: Trainer v2 (up to v2.3)
has ML policies for PyTorch, MPI, JAX, XGBoost and Flux only. No runtime sets up TensorFlow workers
(TF_CONFIG, a service per worker), and its TensorFlow runtime is still an open request
(kubeflow/trainer#2443). The operator's v1.9 line still reconciles TFJob and is maintained.

The train step creates the TFJob through the Kubernetes API (the `kubernetes` client the pipeline
already has; the operator's own SDK adds nothing we need), prints each change of its state, fails if
the job fails (with the failed workers' last log lines), deletes it if the step is stopped (SIGTERM
included; the job is also the launcher pod's dependent, so Kubernetes deletes it with the pod), and hands
the chief's export on as its own output: evaluate and push see a model like a one-pod train's.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from components.common.launched_jobs import Terminated, launcher_owner_references, stopped_by_sigterm
from components.train.worker_pod import WorkerPool, render_worker_pod
from components.train.workers import run_local_workers, take_result, worker_args

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "tfjobs", "TFJob"
# infra/scripts/minikube-up.sh installs this release; infra/training-operator has its OpenAPI definitions.
TRAINING_OPERATOR_VERSION = "v1.9.4"
# The operator puts TF_CONFIG into the container of this name only.
CONTAINER = "tensorflow"
BACKUP_MOUNT = "/var/run/train-backup"
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class TFJobFailed(RuntimeError):
    """The TFJob failed or did not finish in time; the message says why and quotes the failed workers."""


def job_name(export_uri: str) -> str:
    """A DNS-1035 name from the step's output URI: the same for a retry of the step, new for each run."""
    return f"tabular-train-{hashlib.sha256(export_uri.encode()).hexdigest()[:12]}"


def staging_uri(export_uri: str) -> str:
    """Where the chief uploads its export: beside the step's output, which KFP itself uploads after the step."""
    return f"{export_uri.rstrip('/')}.chief"


def render_tfjob(name: str, namespace: str, pool: WorkerPool, worker_args: Sequence[str]) -> dict[str, Any]:
    """The TFJob: `pool.workers` replicas of type Worker (worker 0 is the chief), all alike; owned by the
    launcher pod when this runs in one (components.common.launched_jobs)."""
    if pool.workers < 2:
        raise ValueError(f"a TFJob needs 2 or more workers, got {pool.workers}: one worker trains in the step's pod")
    command = ["python3", "-m", "components.train.workers", *worker_args, "--backup-dir", BACKUP_MOUNT]
    pod = render_worker_pod(pool, CONTAINER, command, "train")
    # The backup outlives a restart of the container (restartPolicy OnFailure restarts it in place).
    pod["spec"]["volumes"].append({"name": "backup", "emptyDir": {}})
    pod["spec"]["containers"][0]["volumeMounts"].append({"name": "backup", "mountPath": BACKUP_MOUNT})
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": pod["metadata"]["labels"]}
    owners = launcher_owner_references()
    if owners:
        metadata["ownerReferences"] = owners
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "runPolicy": {
                # Workers still running when the job ends (one failed for good) are deleted: no GPU idles.
                "cleanPodPolicy": "Running",
                "backoffLimit": pool.backoff_limit,
                "activeDeadlineSeconds": pool.active_deadline_s,
                "ttlSecondsAfterFinished": 3600,
            },
            # Done when every worker is: they finish together, and the chief's export is then complete.
            "successPolicy": "AllWorkers",
            "tfReplicaSpecs": {"Worker": {"replicas": pool.workers, "restartPolicy": "OnFailure", "template": pod}},
        },
    }


def _conditions(job: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {condition["type"]: condition for condition in job.get("status", {}).get("conditions", [])}


def _state_line(job: Mapping[str, Any]) -> str:
    status = job.get("status", {})
    current = [kind for kind, condition in _conditions(job).items() if condition.get("status") == "True"]
    replicas = {kind: dict(counts) for kind, counts in sorted(status.get("replicaStatuses", {}).items())}
    return f"{', '.join(current) or 'Pending'} {json.dumps(replicas, sort_keys=True)}"


def _failed_worker_logs(core_api: Any, namespace: str, name: str, tail_lines: int = 20) -> str:
    pods = core_api.list_namespaced_pod(namespace, label_selector=f"training.kubeflow.org/job-name={name}")
    quoted = []
    for pod in pods.items:
        if (pod.status.phase or "") in ("Failed", "Unknown") or any(
            (status.restart_count or 0) > 0 for status in (pod.status.container_statuses or [])
        ):
            log = core_api.read_namespaced_pod_log(
                pod.metadata.name, namespace, container=CONTAINER, tail_lines=tail_lines
            )
            quoted.append(f"--- {pod.metadata.name} ---\n{log}")
    return "\n".join(quoted) or "(no failed worker pod left to quote)"


def run_tfjob(
    custom_api: Any,
    core_api: Any,
    job: Mapping[str, Any],
    poll_s: float = 10.0,
    timeout_s: float = 6 * 3600,
    say: Callable[[str], None] = print,
) -> None:
    """Create the TFJob (or follow the one a previous attempt of this step created) and wait for its end.

    A job left failed by a previous attempt is replaced. If the step is stopped (SIGTERM, an interrupt)
    or the wait times out, the job is deleted with its pods, so its workers give their GPUs back.
    """
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    where = (GROUP, VERSION, namespace, PLURAL)
    with stopped_by_sigterm(say):
        _create_or_follow(custom_api, job, where, poll_s, say)
        try:
            _wait_for_end(custom_api, core_api, where, name, poll_s, timeout_s, say)
        except (KeyboardInterrupt, Terminated, TimeoutError):
            say(f"deleting TFJob {namespace}/{name}")
            custom_api.delete_namespaced_custom_object(*where, name, propagation_policy="Foreground")
            raise


def _create_or_follow(
    custom_api: Any, job: Mapping[str, Any], where: tuple[str, str, str, str], poll_s: float, say: Callable[[str], None]
) -> None:
    from kubernetes.client.exceptions import ApiException

    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    try:
        custom_api.create_namespaced_custom_object(*where, body=job)
        say(f"created TFJob {namespace}/{name}: {job['spec']['tfReplicaSpecs']['Worker']['replicas']} workers")
    except ApiException as error:
        if error.status != 409:
            raise
        existing = custom_api.get_namespaced_custom_object(*where, name)
        if _conditions(existing).get("Failed", {}).get("status") == "True":
            say(f"TFJob {namespace}/{name} failed in an earlier attempt: replacing it")
            custom_api.delete_namespaced_custom_object(*where, name, propagation_policy="Foreground")
            _wait_gone(custom_api, where, name, poll_s)
            custom_api.create_namespaced_custom_object(*where, body=job)
        else:
            say(f"following TFJob {namespace}/{name}, created by an earlier attempt of this step")


def _wait_for_end(
    custom_api: Any,
    core_api: Any,
    where: tuple[str, str, str, str],
    name: str,
    poll_s: float,
    timeout_s: float,
    say: Callable[[str], None],
) -> None:
    namespace = where[2]
    deadline, last = time.monotonic() + timeout_s, ""
    while True:
        current = custom_api.get_namespaced_custom_object(*where, name)
        line = _state_line(current)
        if line != last:
            say(f"TFJob {name}: {line}")
            last = line
        conditions = _conditions(current)
        if conditions.get("Succeeded", {}).get("status") == "True":
            return
        if conditions.get("Failed", {}).get("status") == "True":
            message = conditions["Failed"].get("message", "")
            logs = _failed_worker_logs(core_api, namespace, name)
            raise TFJobFailed(f"TFJob {namespace}/{name} failed: {message}\n{logs}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"TFJob {namespace}/{name} did not finish within {timeout_s:.0f} s")
        time.sleep(poll_s)


def _wait_gone(custom_api: Any, where: tuple[str, str, str, str], name: str, poll_s: float) -> None:
    from kubernetes.client.exceptions import ApiException

    for _ in range(60):
        try:
            custom_api.get_namespaced_custom_object(*where, name)
        except ApiException as error:
            if error.status == 404:
                return
            raise
        time.sleep(poll_s)
    raise TFJobFailed(f"TFJob {where[2]}/{name} was not deleted within {60 * poll_s:.0f} s")


def in_a_cluster() -> bool:
    """Inside a Kubernetes pod (the step runs on KFP), not under kfp.local."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_NAMESPACE_FILE.exists()


def train_on_workers(
    pool: WorkerPool,
    dataset: str,
    inputs: tuple[tuple[Path, str], tuple[Path, str]],
    export: tuple[Path, str],
    hyperparameters: Mapping[str, Any],
    model_builder: str = "",
    s3_endpoint_url: str = "",
) -> dict[str, Any]:
    """Train on `pool.workers` workers; the chief's SavedModel ends in `export`'s path. Returns TrainResult's fields.

    `inputs` are the transform graph's and the examples' (local path, URI); `export` the step's output
    (local path, URI). In a cluster the workers are a TFJob reading and writing the URIs; elsewhere
    (kfp.local) they are processes on this machine, reading and writing the paths.
    """
    (graph_path, graph_uri), (examples_path, examples_uri) = inputs
    export_path, export_uri = export
    if not in_a_cluster():
        args = worker_args(
            dataset, str(graph_path), str(examples_path), str(export_path), hyperparameters, model_builder, ""
        )
        args += ["--backup-dir", str(export_path.parent / f"{export_path.name}-backup")]
        run_local_workers(pool.workers, args, export_path.parent / f"{export_path.name}-worker-logs")
        return take_result(export_path)
    from kubernetes import client, config

    from components.common.storage import download_dir

    config.load_incluster_config()
    namespace = SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip()
    staging = staging_uri(export_uri)
    args = worker_args(dataset, graph_uri, examples_uri, staging, hyperparameters, model_builder, s3_endpoint_url)
    job = render_tfjob(job_name(export_uri), namespace, pool, args)
    run_tfjob(client.CustomObjectsApi(), client.CoreV1Api(), job)
    download_dir(staging, export_path, s3_endpoint_url or None)
    return take_result(export_path)
