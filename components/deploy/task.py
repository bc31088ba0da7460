"""The optional pipeline step after push (`deploy_on_push`): serve the new champion on KServe.

It deploys only a version that became champion and waits until the InferenceService serves THAT version
and answers its input example with a valid prediction (components/serve/readiness.py); a Ready condition
alone is not enough, since KServe keeps the old revision Ready while a new one fails to start. When the
version is not served within the time allowed, it rolls back the version it deployed, and only that one
(the registry's champion alias and the InferenceService go back to the previous champion), and fails.

The outcome is a tag of the model version (registry.DEPLOY_OUTCOME_TAG), written before the rollback:
a retry of a failed step (KFP retries it) fails again with the first reason, finishing the rollback if an
earlier attempt died before it, so that KFP and MLflow say the same thing. Inside KFP it acts as the
pipeline's ServiceAccount (infra/kserve/deployer-rbac.yaml grants it the InferenceService); outside a pod
(kfp.local), with the kubeconfig's current context.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import NoReturn

import mlflow

from components.runs import step_runs
from components.serve import kserve, readiness, registry, verbs
from components.serve.cluster import Cluster
from components.serve.registry import OUTCOME_FAILED, OUTCOME_SERVED, ServingError

READY_TIMEOUT_S = 600.0


def deploy_on_push(
    deployment: verbs.Deployment,
    model_version: str,
    timeout_s: float = READY_TIMEOUT_S,
    cluster: Cluster | None = None,
) -> str:
    """Deploy `model_version` if it is the champion; returns what happened, in one line."""
    uri, name = deployment.tracking_uri, deployment.model_name
    recorded, rolled_back = registry.deploy_outcome(uri, name, model_version)
    if recorded.startswith(OUTCOME_SERVED):
        return f"version {model_version} is served (recorded by an earlier attempt: {recorded})"
    champion = registry.resolve(uri, name)
    if recorded.startswith(OUTCOME_FAILED):
        first = recorded[len(OUTCOME_FAILED) :]
        if champion.version == model_version:  # an earlier attempt died before its rollback
            _roll_back(deployment, model_version, first, cluster)
        raise ServingError(f"{first} (recorded by an earlier attempt)")
    if rolled_back:
        raise ServingError(f"version {model_version} was rolled back before it was deployed: {rolled_back}")
    if champion.version != model_version:
        return f"version {model_version} is not the champion ({champion.version}): nothing deployed"
    service = kserve.inference_service(champion, deployment.target)  # what cannot be served fails here
    name_served = service["metadata"]["name"]
    probe = readiness.probe_for(champion, deployment.target.runtime, name_served, deployment.endpoint_url)
    cluster = _cluster(cluster)
    for line in verbs.deploy(deployment, model_version, cluster=cluster):
        print(line)
    served, problem = cluster.wait_served(service, model_version, probe, timeout_s)
    where = f"InferenceService {kserve.NAMESPACE}/{name_served}"
    if served:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        registry.record_deploy_outcome(uri, name, model_version, f"{OUTCOME_SERVED}{stamp}: {where}")
        return f"version {model_version} is served and answers its input example: {where}"
    reason = f"deploy_on_push: version {model_version} not served after {timeout_s:.0f} s ({problem})"
    registry.record_deploy_outcome(uri, name, model_version, OUTCOME_FAILED + reason)
    _roll_back(deployment, model_version, reason, cluster)


def _cluster(cluster: Cluster | None) -> Cluster:
    return cluster or Cluster(in_cluster="KUBERNETES_SERVICE_HOST" in os.environ)


def _roll_back(deployment: verbs.Deployment, model_version: str, reason: str, cluster: Cluster | None) -> NoReturn:
    """Retire `model_version` (only if it is still the champion) and fail with `reason`."""
    try:
        for line in verbs.rollback(deployment, model_version, reason, cluster=_cluster(cluster)):
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
    s3_endpoint_url: str = "",
) -> str:
    """The pipeline step, inside its MLflow run; the outcome is its `deployed` param."""
    target = kserve.Target(platform=platform, runtime=runtime, role_arn=role_arn)
    deployment = verbs.Deployment(tracking_uri, model_name, target, endpoint_url=s3_endpoint_url or None)
    with step_runs.step_run(tracking_uri, pipeline_run_id, "deploy"):
        outcome = deploy_on_push(deployment, model_version, timeout_s)
        mlflow.log_param("deployed", outcome[:500])
    return outcome
