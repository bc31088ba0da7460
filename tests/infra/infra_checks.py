"""Offline checks of infra/: render the kustomize overlays, parse the Terraform, and the one security rule
checkov cannot express (what a namespace enforcing the restricted Pod Security Standard admits).

The security scan itself is checkov, over every rendered kustomization (infra/security_scan.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import hcl2
import pytest
import yaml
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
KUSTOMIZE = INFRA / "k8s"
OVERLAYS = ("minikube", "eks")
TERRAFORM = INFRA / "terraform"
KUBECTL = REPO / ".venv" / "bin" / "kubectl"

POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Volume types the restricted Pod Security Standard admits.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def require_tool(path: str | Path, purpose: str) -> str:
    """The tool's path; without it, fail in CI (CI=...) and skip elsewhere, telling how to get it."""
    found = shutil.which(str(path)) if not Path(path).is_absolute() else (str(path) if Path(path).exists() else None)
    if found:
        return found
    message = f"{path} not found ({purpose}): run `make system-deps` (Debian packages) and `make setup` (.venv)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def render(overlay_dir: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of one directory, as a list of objects; a render error fails with kustomize's message."""
    kubectl = require_tool(KUBECTL, "renders the kustomize overlays")
    result = subprocess.run([kubectl, "kustomize", str(overlay_dir)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay_dir.relative_to(REPO)} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def object_id(obj: dict[str, Any]) -> str:
    """Kind/namespace/name, or Kind/name for cluster-scoped objects: how the tests name an object."""
    metadata = obj.get("metadata", {})
    parts = [obj.get("kind", "?"), metadata.get("namespace"), metadata.get("name", "?")]
    return "/".join(part for part in parts if part)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload, None for other kinds."""
    path = POD_SPEC_PATHS.get(obj.get("kind", ""))
    if path is None:
        return None
    for key in path:
        obj = (obj or {}).get(key)
    return obj or {}


def restricted_violations(obj: dict[str, Any]) -> Iterator[str]:
    """What the restricted Pod Security Standard (Kubernetes 1.33) rejects in a workload's pods.

    checkov judges each object alone, and a checkov waiver would hide a pod that admission still refuses;
    this is the admission's view, with no waivers.
    """
    spec = pod_spec(obj)
    if spec is None:
        return
    target = object_id(obj)
    pod_security = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            yield f"{target}: {flag} is true"
    for volume in spec.get("volumes", []):
        if not set(volume) - {"name"} <= RESTRICTED_VOLUMES:
            yield f"{target}: volume {volume['name']} is not of an admitted type"
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        where = f"{target} container {container.get('name')}"
        security = container.get("securityContext") or {}
        capabilities = security.get("capabilities") or {}
        if security.get("privileged"):
            yield f"{where}: privileged"
        if security.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation is not false"
        if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is not True:
            yield f"{where}: runAsNonRoot is not true"
        if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
            yield f"{where}: runAsUser is 0"
        if "ALL" not in (capabilities.get("drop") or []):
            yield f"{where}: capabilities.drop lacks ALL"
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            yield f"{where}: adds capabilities {capabilities['add']}"
        seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield f"{where}: seccompProfile is not RuntimeDefault or Localhost"
        if any(port.get("hostPort") for port in container.get("ports", [])):
            yield f"{where}: uses a hostPort"


def load_terraform(directory: Path = TERRAFORM) -> dict[str, Any]:
    """The .tf files of a directory merged: {resource: {type: {name: body}}, data, locals, variable, output}."""
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    merged: dict[str, Any] = {"resource": {}, "data": {}, "locals": {}, "variable": {}, "output": {}}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            try:
                parsed = hcl2.load(handle, serialization_options=options)
            except Exception as error:  # the parser's own exception types vary by version
                raise AssertionError(f"{path} does not parse as HCL: {error}") from error
        for block in ("resource", "data"):
            for entry in parsed.get(block, []):
                for type_, named in entry.items():
                    merged[block].setdefault(type_, {}).update(named)
        for entry in parsed.get("locals", []):
            merged["locals"].update(entry)
        for block in ("variable", "output"):
            for entry in parsed.get(block, []):
                merged[block].update(entry)
    return merged
