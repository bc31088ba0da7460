"""Just enough of a Kubernetes API with KServe, on 127.0.0.1, for the serving verbs and deploy_on_push.

It stores ServiceAccounts, ServingRuntimes and InferenceServices as written, and plays KServe's controller
on every InferenceService write, by the model version the object names (`rollouts[version]`):
- UP: the version rolls out: observedGeneration catches up, Ready, and (RawDeployment) the predictor
  Deployment's pods are all this version's, or (Serverless) a new revision of it is ready with all traffic;
  the service's URL becomes `urls[version]`.
- STALLS: the new pods never become ready, and everything a naive check reads says all is well: the
  controller observes the new generation, the Ready condition stays True and the URL stays on the OLD
  version's server (which answers). Only the rollout shows it: the Deployment holds one updated replica
  out of two and one available (the old pod), or the latest created revision is not the latest ready one.
`on_write(version)`, when set, runs after each InferenceService write (a push elsewhere, for a race).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import yaml

from components.serve.kserve import DEPLOYMENT_MODE_ANNOTATION, MODEL_VERSION_LABEL, SERVERLESS

UP, STALLS = "up", "stalls"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "inferenceservices.serving.kserve.io"},
    "spec": {
        "group": "serving.kserve.io",
        "names": {"kind": "InferenceService", "plural": "inferenceservices"},
        "scope": "Namespaced",
        "versions": [{"name": "v1beta1", "served": True, "storage": True}],
    },
}


class FakeKServeApi(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, namespace, name) -> object
        self.deployments: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, dict[str, Any]] = {}
        self.rollouts: dict[str, str] = {}
        self.urls: dict[str, str] = {}
        self.writes: list[tuple[str, str, str | None]] = []  # (method, plural, model version)
        self.on_write: Callable[[str], None] | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "nobody"}}],
            "users": [{"name": "nobody", "user": {}}],
        }))  # fmt: skip
        return path

    def served_version(self, namespace: str, name: str) -> str | None:
        isvc = self.objects[("inferenceservices", namespace, name)]
        return isvc["metadata"]["labels"].get(MODEL_VERSION_LABEL)

    def write(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        with self._lock:
            before = self.objects.get((plural, namespace, name))
            obj = copy.deepcopy(body)
            obj["metadata"]["resourceVersion"] = str(
                int((before or {}).get("metadata", {}).get("resourceVersion", 0)) + 1
            )
            if plural == "inferenceservices":
                obj["metadata"]["generation"] = (before or {}).get("metadata", {}).get("generation", 0) + 1
                obj["status"] = copy.deepcopy((before or {}).get("status") or {})
                self._reconcile(obj)
            self.objects[(plural, namespace, name)] = obj
        version = (obj["metadata"].get("labels") or {}).get(MODEL_VERSION_LABEL)
        self.writes.append(("PUT" if before else "POST", plural, version))
        if plural == "inferenceservices" and self.on_write:
            self.on_write(version)
        return obj

    def _reconcile(self, isvc: dict[str, Any]) -> None:
        version = isvc["metadata"]["labels"][MODEL_VERSION_LABEL]
        up = self.rollouts[version] == UP
        status = isvc["status"]
        status["observedGeneration"] = isvc["metadata"]["generation"]
        status["conditions"] = [{"type": "Ready", "status": "True"}]  # the old pods keep it True when stalled
        if up:
            status["url"] = status.setdefault("address", {})["url"] = self.urls[version]
        name, namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
        if isvc["metadata"]["annotations"][DEPLOYMENT_MODE_ANNOTATION] == SERVERLESS:
            revision = f"{name}-predictor-{len(self.revisions) + 1:05d}"
            self.revisions[revision] = {"metadata": {"name": revision, "labels": {MODEL_VERSION_LABEL: version}}}
            predictor = status.setdefault("components", {}).setdefault("predictor", {})
            predictor["latestCreatedRevision"] = revision
            if up:
                predictor["latestReadyRevision"] = revision
                predictor["traffic"] = [{"revisionName": revision, "percent": 100, "latestRevision": True}]
            return
        deployment = self.deployments.setdefault(f"{name}-predictor", _deployment(name, namespace))
        deployment["metadata"]["generation"] += 1
        deployment["spec"]["template"]["metadata"]["labels"][MODEL_VERSION_LABEL] = version
        replicas = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
        if not up:  # the new pod never gets ready; the old one stays, available
            replicas = {"replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
        deployment["status"] = {"observedGeneration": deployment["metadata"]["generation"], **replicas}


def _deployment(name: str, namespace: str) -> dict[str, Any]:
    labels = {ISVC_LABEL: name, "component": "predictor"}
    return {
        "metadata": {"name": f"{name}-predictor", "namespace": namespace, "labels": labels, "generation": 0},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": {}}}},
    }


class _Handler(BaseHTTPRequestHandler):
    server: FakeKServeApi

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _missing(self) -> None:
        self._reply(404, {"kind": "Status", "apiVersion": "v1", "code": 404, "reason": "NotFound", "message": "gone"})

    def _where(self) -> tuple[str, str, str | None]:
        """(plural, namespace, name or None) of a namespaced path."""
        parts = urlsplit(self.path).path.strip("/").split("/")
        at = parts.index("namespaces")
        return parts[at + 2], parts[at + 1], parts[at + 3] if len(parts) > at + 3 else None

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/apis/apiextensions.k8s.io/"):
            return self._reply(200, CRD)
        plural, namespace, name = self._where()
        if plural == "deployments":
            selector = parse_qs(urlsplit(self.path).query).get("labelSelector", [""])[0]
            wanted = dict(pair.split("=", 1) for pair in selector.split(",") if pair)
            items = [d for d in self.server.deployments.values() if wanted.items() <= d["metadata"]["labels"].items()]
            return self._reply(200, {"kind": "DeploymentList", "apiVersion": "apps/v1", "items": items})
        found = self.server.revisions.get(name) if plural == "revisions" else self.server.objects.get(
            (plural, namespace, name)
        )  # fmt: skip
        return self._reply(200, found) if found else self._missing()

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self) -> None:
        plural, namespace, _ = self._where()
        self._reply(201, self.server.write(plural, namespace, self._body()))

    def do_PUT(self) -> None:
        plural, namespace, name = self._where()
        if (plural, namespace, name) not in self.server.objects:
            return self._missing()
        self._reply(200, self.server.write(plural, namespace, self._body()))


@contextmanager
def fake_kserve_api() -> Iterator[FakeKServeApi]:
    server = FakeKServeApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
