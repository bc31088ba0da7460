"""Security scan of the rendered manifests and the Terraform (checkov-style rules in infra_checks.py).

Zero findings, except those waived with a reason in infra/security-waivers.yaml; the checks are shown
to fire on deliberately bad input, naming the object and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_checks import (
    OVERLAYS,
    WAIVERS,
    k8s_findings,
    load_terraform,
    load_waivers,
    terraform_findings,
    unwaived,
    waived,
)

pytestmark = pytest.mark.infra


def _report(findings: list[Any]) -> str:
    return "\n".join(str(finding) for finding in findings)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_have_no_unwaived_findings(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    left = unwaived(k8s_findings(rendered[overlay]), load_waivers())
    assert not left, f"fix these in infra/k8s or waive them, with a reason, in {WAIVERS.name}:\n{_report(left)}"


def test_terraform_has_no_unwaived_findings(terraform: dict[str, Any]) -> None:
    left = unwaived(terraform_findings(terraform), load_waivers())
    assert not left, f"fix these in infra/terraform or waive them in {WAIVERS.name}:\n{_report(left)}"


def test_every_waiver_still_matches_a_finding(
    rendered: dict[str, list[dict[str, Any]]], terraform: dict[str, Any]
) -> None:
    findings = terraform_findings(terraform) + [f for objects in rendered.values() for f in k8s_findings(objects)]
    stale = [w for w in load_waivers() if not any(waived(finding, w) for finding in findings)]
    assert not stale, f"waivers in {WAIVERS.name} that match no finding any more (remove them): {stale}"


BAD_WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: tabular-mlops}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      hostNetwork: true
      containers:
        - name: app
          image: docker.io/library/nginx:latest
          securityContext: {privileged: true, runAsUser: 0, capabilities: {add: [NET_ADMIN]}}
          env:
            - {name: DB_PASSWORD, value: hunter2}
            - {name: BACKEND, value: "postgresql://mlflow:hunter2@db:5432/mlflow"}
            - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: db, key: password}}}
        - name: sidecar
          image: quay.io/example/sidecar
          resources: {limits: {cpu: 100m, memory: 64Mi}, requests: {cpu: 100m, memory: 64Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            runAsNonRoot: true
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
          readinessProbe: {tcpSocket: {port: 80}}
          livenessProbe: {tcpSocket: {port: 80}}
      volumes:
        - {name: docker, hostPath: {path: /var/run/docker.sock}}
"""


def test_a_bad_workload_is_caught_by_object_and_field() -> None:
    findings = k8s_findings([yaml.safe_load(BAD_WORKLOAD)])
    by_rule = {finding.rule: finding for finding in findings}
    assert {
        "privileged-container",
        "privilege-escalation",
        "run-as-non-root",
        "read-only-root-filesystem",
        "drop-all-capabilities",
        "added-capabilities",
        "image-pinned",
        "resource-limits",
        "resource-requests",
        "secret-by-reference",
        "host-namespaces",
        "host-path-volume",
        "seccomp-profile",
        "probes",
    } == set(by_rule)
    privileged = by_rule["privileged-container"]
    assert privileged.target == "Deployment/tabular-mlops/bad"
    assert privileged.field == "spec.template.spec.containers[app].securityContext.privileged"
    assert "'docker.io/library/nginx:latest' uses the moving tag :latest" in _report(findings)
    assert "'quay.io/example/sidecar' has no tag" in _report(findings)
    secrets = sorted(f.field for f in findings if f.rule == "secret-by-reference")
    assert secrets == [
        "spec.template.spec.containers[app].env[BACKEND]",
        "spec.template.spec.containers[app].env[DB_PASSWORD]",
    ]
    # The well-configured sidecar contributes only its missing tag.
    assert [f.rule for f in findings if "containers[sidecar]" in f.field] == ["image-pinned"]


BAD_OBJECTS = """
apiVersion: v1
kind: Secret
metadata: {name: committed, namespace: tabular-mlops}
stringData: {password: hunter2}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: greedy, namespace: kubeflow}
rules:
  - {apiGroups: [""], resources: [secrets], verbs: [get, list]}
  - {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
---
apiVersion: v1
kind: Service
metadata: {name: open, namespace: tabular-mlops}
spec: {type: LoadBalancer, ports: [{port: 5000}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: clear, namespace: tabular-mlops}
spec: {rules: [{host: mlflow.example.org}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: leaky, namespace: tabular-mlops}
data: {auth.ini: "database_uri = postgresql://mlflow:hunter2@db/mlflow_auth"}
"""


def test_committed_secrets_broad_rbac_and_exposure_are_caught() -> None:
    findings = k8s_findings(yaml.safe_load_all(BAD_OBJECTS))
    assert sorted((f.rule, f.target, f.field) for f in findings) == [
        ("ingress-tls", "Ingress/tabular-mlops/clear", "spec.tls"),
        ("rbac-secrets", "Role/kubeflow/greedy", "rules[0].resourceNames"),
        ("rbac-wildcard", "Role/kubeflow/greedy", "rules[1].apiGroups"),
        ("rbac-wildcard", "Role/kubeflow/greedy", "rules[1].resources"),
        ("rbac-wildcard", "Role/kubeflow/greedy", "rules[1].verbs"),
        ("secret-by-reference", "ConfigMap/tabular-mlops/leaky", "data.auth.ini"),
        ("secret-by-reference", "Secret/tabular-mlops/committed", "data"),
        ("service-exposed", "Service/tabular-mlops/open", "spec.type"),
    ]


BAD_TERRAFORM = """
resource "aws_s3_bucket" "open" {
  bucket = "open"
}

resource "aws_s3_bucket_public_access_block" "open" {
  bucket             = aws_s3_bucket.open.id
  block_public_acls  = true
  block_public_policy = false
}

resource "aws_kms_key" "static" {
  enable_key_rotation = false
}

resource "aws_launch_template" "legacy" {
  metadata_options {
    http_tokens                 = "optional"
    http_put_response_hop_limit = 2
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      encrypted = false
    }
  }
}

data "aws_iam_policy_document" "everything" {
  statement {
    actions   = ["s3:*"]
    resources = ["*"]
  }
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    condition {
      test     = "StringLike"
      variable = "oidc:sub"
      values   = ["system:serviceaccount:*"]
    }
  }
}
"""


def test_bad_terraform_is_caught(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(BAD_TERRAFORM)
    findings = terraform_findings(load_terraform(tmp_path))
    assert sorted((f.rule, f.target) for f in findings) == [
        ("ebs-encryption", "aws_launch_template.legacy"),
        ("iam-wildcard", "data.aws_iam_policy_document.everything"),
        ("iam-wildcard", "data.aws_iam_policy_document.everything"),
        ("imds-hop-limit", "aws_launch_template.legacy"),
        ("imds-v2", "aws_launch_template.legacy"),
        ("irsa-trust", "data.aws_iam_policy_document.everything"),
        ("kms-rotation", "aws_kms_key.static"),
        ("s3-access-logging", "aws_s3_bucket.open"),
        ("s3-encryption", "aws_s3_bucket.open"),
        ("s3-public-access", "aws_s3_bucket.open"),
        ("s3-tls-only", "aws_s3_bucket.open"),
        ("s3-versioning", "aws_s3_bucket.open"),
    ]


def test_unparsable_terraform_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.tf").write_text('resource "aws_s3_bucket" "x" {\n  bucket = \n')
    with pytest.raises(AssertionError, match="broken.tf does not parse as HCL"):
        load_terraform(tmp_path)


POD_SECURITY_RESTRICTED = {
    "privileged-container",
    "privilege-escalation",
    "run-as-non-root",
    "drop-all-capabilities",
    "added-capabilities",
    "seccomp-profile",
    "host-path-volume",
    "host-namespaces",
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaces_enforcing_restricted_pod_security_admit_every_pod(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """A namespace labelled pod-security enforce=restricted rejects such pods at admission: no waiver helps there."""
    restricted = {
        obj["metadata"]["name"]
        for obj in rendered[overlay]
        if obj["kind"] == "Namespace"
        and obj["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted"
    }
    assert restricted, "the platform namespace should enforce the restricted Pod Security Standard"
    inside = [obj for obj in rendered[overlay] if obj["metadata"].get("namespace") in restricted]
    rejected = [f for f in k8s_findings(inside) if f.rule in POD_SECURITY_RESTRICTED]
    assert not rejected, _report(rejected)
