"""The cluster verbs behind `make deploy-model` (CANARY=n), `make promote-model` and `make rollback-model`.

Each checks first what it needs (the model version, the cluster, KServe, an InferenceService to change)
and changes nothing when something is missing; then it returns the lines saying what changed.

A canary (KServe's Serverless mode only) is the new version taking `canaryTrafficPercent` of the traffic
while the revision before it keeps the rest; promote gives it all; rollback names the champion it retires,
moves the registry's champion alias back to the previous champion (components/serve/registry.py) and
serves that version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.serve import kserve, registry
from components.serve.cluster import Cluster
from components.serve.registry import ServingError


@dataclass(frozen=True)
class Deployment:
    """What the verbs need to know besides the cluster: the registry and where to serve."""

    tracking_uri: str
    model_name: str
    target: kserve.Target
    image: str = ""  # the mlflow runtime's image; empty: <REGISTRY>/pipeline:<VERSION>
    endpoint_url: str | None = None  # S3 endpoint, for rollback's removal of the serving copy


def _describe(service: dict[str, Any] | None) -> str:
    if service is None:
        return "nothing"
    predictor = service["spec"]["predictor"]
    canary = predictor.get("canaryTrafficPercent")
    share = f", canary at {canary}%" if canary is not None else ""
    return f"version {kserve.model_version_of(service)} from {predictor['model']['storageUri']}{share}"


def _apply_all(cluster: Cluster, objects: list[dict[str, Any]]) -> list[str]:
    lines = []
    for obj in objects:
        before = cluster.apply(obj)
        where = f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if obj["kind"] == "InferenceService":
            lines.append(f"{where}: {_describe(before)} -> {_describe(obj)}")
        else:
            lines.append(f"{where}: {'replaced' if before else 'created'}")
    return lines


def resolve_served(deployment: Deployment, version: str, variant: str) -> registry.ServedVersion:
    """The version, or its variant (an MLflow model: the mlflow runtime serves it, TensorFlow Serving cannot)."""
    served = registry.resolve(deployment.tracking_uri, deployment.model_name, version)
    if not variant:
        return served
    if deployment.target.runtime != "mlflow":
        raise ServingError(f"VARIANT={variant}: a variant is an MLflow model; serve it with SERVING_RUNTIME=mlflow")
    return registry.variant_of(deployment.tracking_uri, served, variant)


def _connected(cluster: Cluster | None) -> Cluster:
    cluster = cluster or Cluster()
    cluster.require_kserve()
    return cluster


def deploy(
    deployment: Deployment,
    version: str = "",
    canary: int | None = None,
    cluster: Cluster | None = None,
    variant: str = "",
) -> list[str]:
    """Serve `version` (empty: the champion), or its `variant` as an InferenceService of its own; with
    `canary`, as a canary beside what is served now."""
    served = resolve_served(deployment, version, variant)
    objects = kserve.render(served, deployment.target, canary, deployment.image)
    cluster = _connected(cluster)
    if canary is not None:
        current = cluster.get(objects[-1])
        if current is None:
            raise ServingError(f"CANARY={canary}: nothing is served yet to split the traffic with; deploy first")
        if kserve.model_version_of(current) == served.version:
            raise ServingError(f"CANARY={canary}: version {served.version} is already the one served")
    return _apply_all(cluster, objects)


def promote(deployment: Deployment, cluster: Cluster | None = None) -> list[str]:
    """Give the canary all the traffic."""
    cluster = _connected(cluster)
    name = kserve.isvc_name(deployment.model_name)
    current = cluster.get({"kind": "InferenceService", "metadata": {"namespace": kserve.NAMESPACE, "name": name}})
    if current is None:
        raise ServingError(f"no InferenceService {kserve.NAMESPACE}/{name} to promote: deploy the model first")
    if current["spec"]["predictor"].get("canaryTrafficPercent") is None:
        raise ServingError(f"InferenceService {kserve.NAMESPACE}/{name} has no canary to promote")
    served = registry.resolve(deployment.tracking_uri, deployment.model_name, kserve.model_version_of(current) or "")
    return _apply_all(cluster, [kserve.inference_service(served, deployment.target)])


def rollback(deployment: Deployment, from_version: str, reason: str, cluster: Cluster | None = None) -> list[str]:
    """Retire the champion `from_version` for the previous champion (tagged with `reason`) and serve that.

    Refuses, changing nothing, when the champion is another version: checked here before any change and
    again under the champion lock (components/serve/registry.py:roll_back).
    """
    champion = registry.resolve(deployment.tracking_uri, deployment.model_name)
    registry.refuse_unless_champion(champion, from_version)
    previous = registry.previous_champion(deployment.tracking_uri, champion)
    cluster = _connected(cluster)
    restored = kserve.render(previous, deployment.target, None, deployment.image)  # fails before any change
    retired, back = registry.roll_back(
        deployment.tracking_uri, deployment.model_name, from_version, reason, deployment.endpoint_url
    )
    lines = [f"registry: {deployment.model_name} champion {retired} -> {back} ({reason})"]
    try:
        if back != previous.version:  # another rollback retired `previous` meanwhile
            back_version = registry.resolve(deployment.tracking_uri, deployment.model_name, back)
            restored = kserve.render(back_version, deployment.target, None, deployment.image)
        lines += _apply_all(cluster, restored)
    except ServingError as error:
        raise ServingError(f"{lines[0]}, but the cluster was not updated: {error}; run `make deploy-model`") from None
    return lines
