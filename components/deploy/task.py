"""The optional pipeline step after push (`deploy_on_push`): serve the new champion on KServe.

It deploys only a version that became champion, waits for the InferenceService to be Ready and, when it
is not within the time allowed, rolls back (the registry's champion alias and the InferenceService go
back to the previous champion) and fails the step, saying so. Inside KFP it acts as the pipeline's
ServiceAccount (infra/kserve/deployer-rbac.yaml grants it the InferenceService); outside a pod (kfp.local),
with the kubeconfig's current context.
"""

from __future__ import annotations

import os

import mlflow

from components.common import tracking
from components.serve import kserve, registry, verbs
from components.serve.cluster import Cluster
from components.serve.registry import ServingError

READY_TIMEOUT_S = 600.0


def deploy_on_push(
    deployment: verbs.Deployment,
    model_version: str,
    timeout_s: float = READY_TIMEOUT_S,
    cluster: Cluster | None = None,
) -> str:
    """Deploy `model_version` if it is the champion; returns what happened, in one line."""
    champion = registry.resolve(deployment.tracking_uri, deployment.model_name)
    if champion.version != model_version:
        return f"version {model_version} is not the champion ({champion.version}): nothing deployed"
    service = kserve.inference_service(champion, deployment.target)  # what cannot be served fails here
    cluster = cluster or Cluster(in_cluster="KUBERNETES_SERVICE_HOST" in os.environ)
    for line in verbs.deploy(deployment, model_version, cluster=cluster):
        print(line)
    ready, message = cluster.wait_ready(service, timeout_s)
    if ready:
        return f"version {model_version} is served: InferenceService {kserve.NAMESPACE}/{service['metadata']['name']}"
    reason = f"deploy_on_push: version {model_version} not Ready after {timeout_s:.0f} s ({message})"
    try:
        for line in verbs.rollback(deployment, reason, cluster=cluster):
            print(line)
    except ServingError as error:
        raise ServingError(f"{reason}; the rollback failed too: {error}") from None
    raise ServingError(f"{reason}: rolled back to the previous champion")


def run_deploy_step(
    tracking_uri: str,
    pipeline_run_id: str,
    model_name: str,
    model_version: str,
    platform: str,
    runtime: str,
    role_arn: str,
    timeout_s: float,
) -> str:
    """The pipeline step, inside its MLflow run; the outcome is its `deployed` param."""
    target = kserve.Target(platform=platform, runtime=runtime, role_arn=role_arn)
    deployment = verbs.Deployment(tracking_uri, model_name, target)
    with tracking.step_run(tracking_uri, pipeline_run_id, "deploy"):
        outcome = deploy_on_push(deployment, model_version, timeout_s)
        mlflow.log_param("deployed", outcome[:500])
    return outcome
