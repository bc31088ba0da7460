"""The Kubernetes calls the serving verbs make, through the `kubernetes` client (no kubectl needed): the
kubeconfig's current context from a workstation, the pod's ServiceAccount inside the cluster.

Every failure to reach the cluster, or a cluster without KServe, becomes one ServingError line.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from components.serve import readiness
from components.serve.kserve import DEPLOYMENT_MODE_ANNOTATION, SERVERLESS
from components.serve.registry import ServingError

KSERVE_GROUP = "serving.kserve.io"
KSERVE_CRD = f"inferenceservices.{KSERVE_GROUP}"
# kind -> (API version, plural) of the custom objects the verbs apply.
CUSTOM = {"InferenceService": ("v1beta1", "inferenceservices"), "ServingRuntime": ("v1alpha1", "servingruntimes")}
KNATIVE_REVISIONS = ("serving.knative.dev", "v1", "revisions")  # group, version, plural


class Cluster:
    """One cluster connection; `in_cluster` uses the pod's ServiceAccount (a pipeline step)."""

    def __init__(self, in_cluster: bool = False, request_timeout_s: float = 15.0, poll_s: float = 5.0) -> None:
        try:
            if in_cluster:
                config.load_incluster_config()
            else:  # KUBECONFIG read now: the client reads it only once, when first imported
                config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
        except ConfigException as error:
            where = "this pod's ServiceAccount" if in_cluster else "a kubeconfig (KUBECONFIG or ~/.kube/config)"
            raise ServingError(f"no Kubernetes cluster configured: {where} gives none ({error})") from None
        self.host = client.Configuration.get_default_copy().host
        self._timeout = request_timeout_s
        self.poll_s = poll_s
        self.core = client.CoreV1Api()
        self.apps = client.AppsV1Api()
        self.custom = client.CustomObjectsApi()
        self.extensions = client.ApiextensionsV1Api()

    @contextmanager
    def _calls(self, doing: str) -> Iterator[None]:
        try:
            yield
        except ApiException as error:
            if error.status in (401, 403):
                raise ServingError(
                    f"{doing}: the cluster at {self.host} refused ({error.status} {error.reason})"
                ) from None
            raise ServingError(f"{doing}: {error.status} {error.reason}: {_message(error)}") from None
        except HTTPError as error:
            raise ServingError(f"{doing}: the cluster at {self.host} does not answer ({error})") from None

    def require_kserve(self) -> None:
        with self._calls("checking for KServe"):
            try:
                self.extensions.read_custom_resource_definition(KSERVE_CRD, _request_timeout=self._timeout)
            except ApiException as error:
                if error.status != 404:
                    raise
                raise ServingError(
                    f"KServe is not installed in the cluster at {self.host} (no CRD {KSERVE_CRD}): "
                    "make minikube-up installs it"
                ) from None

    def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The cluster's copy of `obj` (by kind, namespace, name); None when there is none."""
        kind, namespace, name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
        with self._calls(f"reading {kind} {namespace}/{name}"):
            try:
                if kind == "ServiceAccount":
                    found = self.core.read_namespaced_service_account(name, namespace, _request_timeout=self._timeout)
                    return client.ApiClient().sanitize_for_serialization(found)
                version, plural = CUSTOM[kind]
                return self.custom.get_namespaced_custom_object(
                    KSERVE_GROUP, version, namespace, plural, name, _request_timeout=self._timeout
                )
            except ApiException as error:
                if error.status == 404:
                    return None
                raise

    def apply(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Create `obj`, or replace the cluster's copy with it; returns what was there before (None: nothing)."""
        kind, namespace, name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
        before = self.get(obj)
        body = {**obj, "metadata": {**obj["metadata"]}}
        with self._calls(f"applying {kind} {namespace}/{name}"):
            if before is not None:
                body["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
            if kind == "ServiceAccount" and before is None:
                self.core.create_namespaced_service_account(namespace, body, _request_timeout=self._timeout)
            elif kind == "ServiceAccount":
                self.core.replace_namespaced_service_account(name, namespace, body, _request_timeout=self._timeout)
            else:
                version, plural = CUSTOM[kind]
                if before is None:
                    self.custom.create_namespaced_custom_object(
                        KSERVE_GROUP, version, namespace, plural, body, _request_timeout=self._timeout
                    )
                else:
                    self.custom.replace_namespaced_custom_object(
                        KSERVE_GROUP, version, namespace, plural, name, body, _request_timeout=self._timeout
                    )
        return before

    def _deployments(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The predictor's Deployments of InferenceService `name` (RawDeployment), as plain dicts."""
        with self._calls(f"listing the Deployments of InferenceService {namespace}/{name}"):
            response = self.apps.list_namespaced_deployment(
                namespace,
                label_selector=readiness.PREDICTOR_SELECTOR.format(name=name),
                _request_timeout=self._timeout,
                _preload_content=False,
            )
            return json.loads(response.data).get("items") or []

    def _revision(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._calls(f"reading Knative revision {namespace}/{name}"):
            try:
                return self.custom.get_namespaced_custom_object(
                    *KNATIVE_REVISIONS[:2], namespace, KNATIVE_REVISIONS[2], name, _request_timeout=self._timeout
                )
            except ApiException as error:
                if error.status == 404:
                    return None
                raise

    def serving_problem(self, service: dict[str, Any], version: str) -> tuple[str | None, dict[str, Any]]:
        """(why `version` is not yet what `service` serves, or None; the InferenceService as read)."""
        found = self.get(service)
        if found is None:
            return "the InferenceService is gone", {}
        problem = readiness.isvc_problem(found, version)
        if problem is None:
            namespace, name = found["metadata"]["namespace"], found["metadata"]["name"]
            mode = (found["metadata"].get("annotations") or {}).get(DEPLOYMENT_MODE_ANNOTATION)
            if mode == SERVERLESS:
                revision = readiness.latest_ready_revision(found)
                problem = readiness.serverless_problem(
                    found, self._revision(namespace, revision) if revision else None, version
                )
            else:
                problem = readiness.raw_problem(self._deployments(namespace, name), version)
        return problem, found

    def wait_served(
        self, service: dict[str, Any], version: str, probe: readiness.Probe, timeout_s: float
    ) -> tuple[bool, str]:
        """Poll until `service` serves `version` and answers `probe` validly; (served, the last problem seen)."""
        deadline = time.monotonic() + timeout_s
        while True:
            problem, found = self.serving_problem(service, version)
            if problem is None:
                urls = readiness.service_urls(found)
                answers = [probe.ask(url) for url in urls] or ["the InferenceService has no URL yet"]
                if None in answers:
                    return True, "served"
                problem = "; ".join(answer for answer in answers if answer)
            if time.monotonic() >= deadline:
                return False, problem
            time.sleep(self.poll_s)


def _message(error: ApiException) -> str:
    try:
        return json.loads(error.body).get("message", error.body)
    except (TypeError, ValueError):
        return str(error.body)
