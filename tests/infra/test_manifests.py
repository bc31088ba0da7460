"""Every overlay renders with kustomize and every object validates against the Kubernetes schemas, offline."""

from __future__ import annotations

import re
import socket
from typing import Any

import kubernetes_validate
import pytest
import yaml
from infra_checks import INFRA, KUSTOMIZE, OVERLAYS, object_id, render

pytestmark = pytest.mark.infra

# The Kubernetes version the manifests target: minikube-up.sh starts v1.33, and EKS supports it.
KUBERNETES_VERSION = "1.33.0"


def validate(objects: list[dict[str, Any]]) -> list[str]:
    """One line per object that fails its schema (strict: unknown fields are errors), naming object and field."""
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            field = ".".join(str(part) for part in error.path)
            errors.append(f"{object_id(obj)} {field}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            # A custom resource: the bundled schemas cover only Kubernetes' own kinds, so such an object
            # needs its own explicit test before it may join an overlay.
            errors.append(f"{object_id(obj)}: {error.message} (a CRD? check it explicitly in tests/infra)")
    return errors


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_validates(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objects = rendered[overlay]
    assert objects, f"overlay {overlay} rendered nothing"
    assert validate(objects) == []


def test_validation_needs_no_network(monkeypatch: pytest.MonkeyPatch, rendered: dict[str, Any]) -> None:
    """kubernetes-validate reads its JSON schemas from the installed package: with sockets refused it still works."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("kubernetes-validate tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert validate(rendered["minikube"]) == []


def test_validation_catches_a_wrong_field() -> None:
    bad = yaml.safe_load(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: broken, namespace: tabular-mlops}
        spec:
          selector: {matchLabels: {app: broken}}
          template:
            metadata: {labels: {app: broken}}
            spec:
              containers:
                - name: broken
                  image: example.org/broken:1.0
                  resourses: {limits: {cpu: "1"}}
                  ports: [{containerPort: "5000"}]
        """
    )
    errors = validate([bad])
    assert len(errors) == 1 and errors[0].startswith("Deployment/tabular-mlops/broken spec.template.spec.containers.0")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_object_is_declared_once(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    ids = [object_id(obj) for obj in rendered[overlay]]
    assert sorted(ids) == sorted(set(ids))


def test_overlays_differ_where_the_platforms_do(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """minikube runs its own database and object store; EKS uses external ones and needs the device plugin."""
    minikube = {object_id(obj) for obj in rendered["minikube"]}
    eks = {object_id(obj) for obj in rendered["eks"]}
    assert {"StatefulSet/tabular-mlops/postgres", "Deployment/tabular-mlops/minio"} <= minikube - eks
    assert "DaemonSet/kube-system/nvidia-device-plugin" in eks - minikube
    assert not {obj for obj in eks if obj.startswith(("StatefulSet/", "PersistentVolumeClaim/"))}


def test_base_renders_alone() -> None:
    assert validate(render(KUSTOMIZE / "base")) == []


def test_a_custom_resource_is_reported_not_passed() -> None:
    node_pool = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "gpu"}, "spec": {}}
    errors = validate([node_pool])
    assert len(errors) == 1 and errors[0].startswith("NodePool/gpu: Couldn't find schema") and "a CRD?" in errors[0]


def test_the_schema_version_is_the_one_minikube_starts() -> None:
    script = (INFRA / "scripts" / "minikube-up.sh").read_text()
    started = re.search(r"MINIKUBE_KUBERNETES_VERSION:-v(\d+\.\d+)\.\d+", script).group(1)
    assert KUBERNETES_VERSION.startswith(f"{started}.")
