"""The model's KServe objects, rendered from the templates in infra/kserve/: its ServiceAccount, the
ServingRuntime of the mlflow format, and the InferenceService.

The kserve SDK's typed objects are not used: no kserve release resolves with requirements.lock
(kserve 0.21.0 needs pandas < 3; the lock has pandas 3.1.1). The templates are plain YAML; only the
fields marked FILLED in them change here.

Which layout a runtime reads (both are in the model store, components/push/):
- `mlflow` (default): the project's ServingRuntime, the same server as `make serve` over the version's
  own folder `<store>/<model>/<time>-<run>/` (an MLflow model: MLmodel beside the SavedModel). Exact:
  storageUri names one version, so a canary serves two versions side by side.
- `tensorflow`: KServe's TensorFlow Serving runtime over the TensorFlow Serving layout
  `<store>/<model>/serving/`, serving its highest version folder, which is always the champion's.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.common.images import image_ref
from components.serve.registry import ServedVersion, ServingError

KSERVE_DIR = Path(__file__).resolve().parents[2] / "infra" / "kserve"
NAMESPACE = "tabular-mlops-serving"
SERVICE_ACCOUNT = "tabular-mlops-model-server"
# minikube: the Secret with MinIO's keys in NAMESPACE (infra/scripts/minikube-up.sh makes it).
MINIO_KEYS_OBJECT = "tabular-mlops-model-store"
MINIO_ENDPOINT = "minio.tabular-mlops.svc.cluster.local:9000"
RAW, SERVERLESS = "RawDeployment", "Serverless"
PLATFORMS = {"minikube": RAW, "eks": SERVERLESS}  # the deployment mode each platform uses unless told
MODEL_VERSION_LABEL = "tabular-mlops.io/model-version"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
# KServe appends "-predictor" and more to the name; KServe's webhook limits what is left.
MAX_NAME = 45


@dataclass(frozen=True)
class Runtime:
    model_format: str
    runtime: str
    readiness_path: str  # "{name}" stands for the InferenceService's name


RUNTIMES = {
    "mlflow": Runtime("mlflow", "tabular-mlops-mlflow", "/health"),
    "tensorflow": Runtime("tensorflow", "kserve-tensorflow-serving", "/v1/models/{name}"),
}


@dataclass(frozen=True)
class Target:
    """Where and how to serve: the platform, the runtime, KServe's deployment mode and, on EKS, the IRSA role."""

    platform: str = "minikube"
    runtime: str = "mlflow"
    deployment_mode: str = ""  # empty: the platform's (PLATFORMS)
    role_arn: str = ""  # EKS: the model server's IAM role (read access to the model store)
    region: str = "us-east-1"

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ServingError(f"unknown platform {self.platform!r}: expected one of {sorted(PLATFORMS)}")
        if self.runtime not in RUNTIMES:
            raise ServingError(f"unknown runtime {self.runtime!r}: expected one of {sorted(RUNTIMES)}")
        if self.mode not in (RAW, SERVERLESS):
            raise ServingError(f"unknown KServe deployment mode {self.mode!r}: expected {RAW} or {SERVERLESS}")
        if self.platform == "eks" and not self.role_arn:
            raise ServingError(
                "SERVING_ROLE_ARN is not set: on EKS the model server reads the store through an IRSA role "
                f"(read access to the models' prefix, trusting {NAMESPACE}/{SERVICE_ACCOUNT})"
            )

    @property
    def mode(self) -> str:
        return self.deployment_mode or PLATFORMS[self.platform]


def _template(name: str) -> dict[str, Any]:
    return yaml.safe_load((KSERVE_DIR / name).read_text(encoding="utf-8"))


def isvc_name(model_name: str) -> str:
    """The model's name as a DNS label KServe accepts: lower case, dashes, at most MAX_NAME characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", model_name.lower()).strip("-")[:MAX_NAME].rstrip("-")
    if not name or not name[0].isalpha():
        raise ServingError(f"model name {model_name!r} gives no InferenceService name (it must start with a letter)")
    return name


def storage_uri(version: ServedVersion, runtime: str) -> str:
    """Where the runtime reads the version: its MLflow folder, or the TensorFlow Serving base path."""
    uri = version.source if runtime == "mlflow" else version.serving_root
    if not uri.startswith("s3://"):
        raise ServingError(
            f"{version.name} version {version.version} is stored at {uri}, which a cluster cannot read: "
            "push to an S3 store (MODEL_STORE_URI=s3://...)"
        )
    return uri


def service_account(target: Target) -> dict[str, Any]:
    account = _template("serviceaccount.yaml")
    if target.platform == "eks":
        account["metadata"]["annotations"] = {
            "eks.amazonaws.com/role-arn": target.role_arn,
            "serving.kserve.io/s3-region": target.region,
        }
    else:
        account["metadata"]["annotations"] = {
            "serving.kserve.io/s3-endpoint": MINIO_ENDPOINT,
            "serving.kserve.io/s3-usehttps": "0",
            "serving.kserve.io/s3-region": target.region,
        }
        account["secrets"] = [{"name": MINIO_KEYS_OBJECT}]
    return account


def serving_runtime(target: Target, image: str = "") -> dict[str, Any]:
    runtime = _template("servingruntime.yaml")
    (container,) = runtime["spec"]["containers"]
    container["image"] = image or image_ref("pipeline")
    container["imagePullPolicy"] = "IfNotPresent" if target.platform == "minikube" else "Always"
    return runtime


def inference_service(version: ServedVersion, target: Target, canary: int | None = None) -> dict[str, Any]:
    """The InferenceService serving `version`; with `canary`, it takes that percent of the traffic."""
    runtime = RUNTIMES[target.runtime]
    service = _template("inferenceservice.yaml")
    name = isvc_name(version.name)
    service["metadata"]["name"] = name
    service["metadata"]["labels"][MODEL_VERSION_LABEL] = version.version
    service["metadata"]["annotations"][DEPLOYMENT_MODE_ANNOTATION] = target.mode
    predictor = service["spec"]["predictor"]
    model = predictor["model"]
    model["modelFormat"]["name"] = runtime.model_format
    model["runtime"] = runtime.runtime
    model["storageUri"] = storage_uri(version, target.runtime)
    model["readinessProbe"]["httpGet"]["path"] = runtime.readiness_path.format(name=name)
    # A changed version label on the pods starts a new rollout even when storageUri stays (tensorflow).
    predictor["labels"] = {MODEL_VERSION_LABEL: version.version}
    if canary is not None:
        if not 0 < canary < 100:
            raise ServingError(f"CANARY={canary}: a canary takes between 1 and 99 percent of the traffic")
        if target.mode != SERVERLESS:
            raise ServingError(
                f"CANARY needs KServe's {SERVERLESS} mode (Knative splits the traffic between revisions); "
                f"this InferenceService is {target.mode}: deploy without CANARY, or use a cluster with Knative "
                f"and KSERVE_DEPLOYMENT_MODE={SERVERLESS}"
            )
        predictor["canaryTrafficPercent"] = canary
    return service


def render(version: ServedVersion, target: Target, canary: int | None = None, image: str = "") -> list[dict]:
    """Every object a deploy applies, in order: ServiceAccount, ServingRuntime (mlflow), InferenceService."""
    objects = [service_account(target)]
    if target.runtime == "mlflow":
        objects.append(serving_runtime(target, image))
    objects.append(inference_service(version, target, canary))
    return [copy.deepcopy(obj) for obj in objects]


def model_version_of(service: dict[str, Any]) -> str | None:
    """The registry version a deployed InferenceService serves, from its label."""
    return (service.get("metadata", {}).get("labels") or {}).get(MODEL_VERSION_LABEL)
