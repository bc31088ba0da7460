"""When a deploy is done: the InferenceService serves THIS model version, and it answers.

A Ready condition alone does not say so: on an update KServe keeps the old revision (Serverless) or the
old Deployment (RawDeployment) Ready while the new one starts, and keeps it so when the new one never
starts. A deploy is done when
- KServe's controller has seen the object as written (status.observedGeneration == metadata.generation)
  and says Ready;
- Serverless: the latest created revision is the latest ready one, carries the version's label and takes
  all the traffic; RawDeployment: the predictor's Deployment rolls out a pod template with the version's
  label and no older pod is left (Kubernetes' rollout test: observedGeneration, then updated, ready and
  available replicas all equal to the replicas);
- the model's input example, sent through the service's URL, gets a valid prediction: one row per example
  row, every value a finite number (the project's serving signature outputs numbers).
"""

from __future__ import annotations

import json
import math
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.common import storage
from components.serve.kserve import MODEL_VERSION_LABEL
from components.serve.registry import ServedVersion, ServingError

# The predictor's Deployment in RawDeployment mode, by KServe's labels (its name differs between releases).
PREDICTOR_SELECTOR = "serving.kserve.io/inferenceservice={name},component=predictor"
# A signature type -> the value of the row built when a model was saved without an input example.
_PLACEHOLDERS = {"string": "", "boolean": False}
REQUEST_TIMEOUT_S = 10.0


def isvc_problem(isvc: dict[str, Any], version: str) -> str | None:
    """Why the InferenceService as read is not yet this version's, Ready; None when it is."""
    labels = (isvc.get("metadata") or {}).get("labels") or {}
    if labels.get(MODEL_VERSION_LABEL) != version:
        return f"the InferenceService names version {labels.get(MODEL_VERSION_LABEL)}, not {version}"
    status = isvc.get("status") or {}
    generation, observed = isvc["metadata"].get("generation"), status.get("observedGeneration")
    if generation is None or observed != generation:
        return f"KServe has not processed generation {generation} yet (observedGeneration {observed})"
    ready = {c.get("type"): c for c in status.get("conditions") or []}.get("Ready", {})
    if ready.get("status") != "True":
        return f"not Ready: {ready.get('message') or ready.get('reason') or 'no Ready condition yet'}"
    return None


def latest_ready_revision(isvc: dict[str, Any]) -> str:
    return ((isvc.get("status") or {}).get("components") or {}).get("predictor", {}).get("latestReadyRevision", "")


def serverless_problem(isvc: dict[str, Any], revision: dict[str, Any] | None, version: str) -> str | None:
    """Serverless: the predictor's latest created revision is ready, is this version's and takes all traffic."""
    predictor = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
    created, ready = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
    if not ready or created != ready:
        return f"revision {created} is not ready (the latest ready one is {ready})"
    carried = ((revision or {}).get("metadata", {}).get("labels") or {}).get(MODEL_VERSION_LABEL)
    if carried != version:
        return f"the ready revision {ready} serves version {carried}, not {version}"
    share = sum(t.get("percent") or 0 for t in predictor.get("traffic") or [] if t.get("revisionName") == ready)
    if share != 100:
        return f"revision {ready} takes {share}% of the traffic, not 100%"
    return None


def raw_problem(deployments: list[dict[str, Any]], version: str) -> str | None:
    """RawDeployment: the predictor's one Deployment has rolled this version's pods out, and only them."""
    if len(deployments) != 1:
        return f"{len(deployments)} predictor Deployments found, expected 1"
    (deployment,) = deployments
    name = deployment["metadata"]["name"]
    template = (deployment["spec"]["template"].get("metadata") or {}).get("labels") or {}
    if template.get(MODEL_VERSION_LABEL) != version:
        return f"Deployment {name} runs version {template.get(MODEL_VERSION_LABEL)}, not {version}"
    status = deployment.get("status") or {}
    if status.get("observedGeneration") != deployment["metadata"].get("generation"):
        return f"Deployment {name}: generation {deployment['metadata'].get('generation')} not observed yet"
    wanted = deployment["spec"].get("replicas", 1)
    counts = {key: status.get(key) or 0 for key in ("replicas", "updatedReplicas", "readyReplicas")}
    counts["availableReplicas"] = status.get("availableReplicas") or 0
    if any(count != wanted for count in counts.values()):
        return f"Deployment {name} rolling out version {version}: {counts} of {wanted} replicas"
    return None


def service_urls(isvc: dict[str, Any]) -> list[str]:
    """The InferenceService's URLs, the cluster-local address first."""
    status = isvc.get("status") or {}
    urls = [(status.get("address") or {}).get("url"), status.get("url")]
    return [url.rstrip("/") for url in dict.fromkeys(urls) if url]


@dataclass(frozen=True)
class Probe:
    """One prediction request: the runtime's path, its JSON body and how many rows the answer must hold."""

    path: str
    body: bytes
    rows: int

    def ask(self, url: str) -> str | None:
        """None when `url` answers the request with a valid prediction; else why not, in a few words."""
        request = urllib.request.Request(
            url + self.path, data=self.body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                answer = response.read()
        except urllib.error.HTTPError as error:
            return f"{url}{self.path} answered {error.code}: {error.read()[:200]!r}"
        except (urllib.error.URLError, OSError) as error:
            return f"{url}{self.path} does not answer ({error})"
        return prediction_problem(answer, self.rows)


def prediction_problem(answer: bytes, rows: int) -> str | None:
    """None when `answer` is {"predictions": [...]} with `rows` rows of finite numbers."""
    try:
        predictions = json.loads(answer).get("predictions")
    except (ValueError, AttributeError):
        return f"the answer is not a JSON object: {answer[:200]!r}"
    if not isinstance(predictions, list) or len(predictions) != rows:
        return f"the answer holds no {rows} predictions: {answer[:200]!r}"
    for row in predictions:
        if not _finite_numbers(row):
            return f"the prediction {row!r} is not a finite number (or a record of them)"
    return None


def _finite_numbers(value: Any) -> bool:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return bool(value) and all(_finite_numbers(item) for item in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def probe_for(version: ServedVersion, runtime: str, isvc_name: str, endpoint_url: str | None = None) -> Probe:
    """The request that checks a deploy of `version`: its MLflow model's serving input example, or one row
    built from the model's signature when it was saved without one."""
    with tempfile.TemporaryDirectory(prefix="probe-") as scratch:
        mlmodel_path = storage.download_file(f"{version.source}/MLmodel", Path(scratch) / "MLmodel", endpoint_url)
        mlmodel = yaml.safe_load(mlmodel_path.read_text(encoding="utf-8")) or {}
        example = (mlmodel.get("saved_input_example_info") or {}).get("serving_input_path")
        if example:
            saved = storage.download_file(f"{version.source}/{example}", Path(scratch) / "example", endpoint_url)
            records = _records(json.loads(saved.read_text(encoding="utf-8")), version)
        else:
            records = [_placeholder_row(mlmodel, version)]
    if runtime == "tensorflow":  # TensorFlow Serving's row format has no missing values
        records = [row for row in records if None not in row.values()] or [_placeholder_row(mlmodel, version)]
        return Probe(f"/v1/models/{isvc_name}:predict", json.dumps({"instances": records}).encode(), len(records))
    return Probe("/invocations", json.dumps({"dataframe_records": records}).encode(), len(records))


def _records(example: dict[str, Any], version: ServedVersion) -> list[dict[str, Any]]:
    """The example's rows as records, NaN (which JSON lacks) as None."""
    if "dataframe_split" in example:
        split = example["dataframe_split"]
        rows = [dict(zip(split["columns"], row)) for row in split["data"]]
    elif "dataframe_records" in example:
        rows = example["dataframe_records"]
    else:
        raise ServingError(
            f"{version.name} version {version.version}: its input example holds {sorted(example)}, "
            "expected dataframe_split or dataframe_records"
        )
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]


def _placeholder_row(mlmodel: dict[str, Any], version: ServedVersion) -> dict[str, Any]:
    inputs = json.loads(((mlmodel.get("signature") or {}).get("inputs")) or "[]")
    if not inputs or any("name" not in column for column in inputs):
        raise ServingError(
            f"{version.name} version {version.version} has neither an input example nor named signature "
            "inputs: nothing to check the served model with"
        )
    return {column["name"]: _PLACEHOLDERS.get(column.get("type"), 0.0) for column in inputs}
