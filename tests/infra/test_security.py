"""The security scan is checkov (infra/security_scan.py, `make security-scan`) over every rendered kustomization,
the Terraform and every Dockerfile: no check may fail. Waivers are checkov's own, in the objects and files,
each with its reason. Deliberately bad inputs show the scan fails, naming the checks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_checks import KUBECTL, OVERLAYS, REPO, load_terraform, require_tool, restricted_violations

from infra import security_scan

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def checkov() -> str:
    """Fails in CI (CI set) and skips elsewhere when .venv-checkov is missing, saying to run `make setup`."""
    return require_tool(security_scan.CHECKOV, "checkov, which `make setup` installs into .venv-checkov")


@pytest.fixture(scope="module")
def report(checkov: str) -> security_scan.Report:
    require_tool(KUBECTL, "renders the kustomizations for the security scan")
    return security_scan.scan_repository()


def _files(report: security_scan.Report) -> set[str]:
    return {result.file.rsplit(":", 1)[0] for result in report.passed + report.failed + report.skipped}


def test_checkov_fails_no_check(report: security_scan.Report) -> None:
    problems = [str(failure) for failure in report.failed] + [f"not parsed: {path}" for path in report.parsing_errors]
    assert not problems, (
        "checkov failed these checks (id, resource, file): fix them, or waive one in the resource itself with its "
        "reason (infra/README.md, Security scan):\n" + "\n".join(problems)
    )


def test_every_kustomization_terraform_file_and_dockerfile_is_scanned(report: security_scan.Report) -> None:
    kustomizations = {
        str(path.parent.relative_to(REPO))
        for pattern in ("infra/**/kustomization.yaml", "monitoring/**/kustomization.yaml")
        for path in REPO.glob(pattern)
    }
    assert kustomizations == set(security_scan.KUSTOMIZATIONS), "a kustomization the scan does not render"
    dockerfiles = security_scan.dockerfiles()
    assert {"components/common/Dockerfile", "components/train/Dockerfile"} <= set(dockerfiles)
    assert "infra/docker/mlflow-server/Dockerfile" in dockerfiles
    # A module file with no resource (variables, outputs, versions) has no check to report.
    terraform = {
        str(path.relative_to(REPO))
        for path in (REPO / security_scan.TERRAFORM).glob("*.tf")
        if 'resource "' in path.read_text()
    }
    expected = {f"{name}/{security_scan.RENDERED}" for name in kustomizations} | set(dockerfiles) | terraform
    assert expected <= _files(report), f"scanned: {sorted(_files(report))}"


def test_every_waiver_gives_its_reason(report: security_scan.Report) -> None:
    assert report.skipped, "the waivers listed in infra/README.md should show as skipped checks"
    vague = [str(skipped) for skipped in report.skipped if len(skipped.reason) < 40]
    assert not vague, "a waiver needs its reason (checkov.io/skipN: ID=reason, checkov:skip=ID:reason):\n" + "\n".join(
        vague
    )


def test_checkov_is_the_pinned_version(report: security_scan.Report) -> None:
    pinned = re.search(r"^checkov==(\S+)$", (REPO / "requirements-checkov.lock").read_text(), re.MULTILINE)
    assert pinned and report.version == pinned.group(1), "run `make setup` to sync .venv-checkov with its lock"
    assert f"checkov=={report.version}" in (REPO / "infra" / "checkov-requirements.in").read_text()


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
          volumeMounts: [{name: docker, mountPath: /var/run/docker.sock}]
      volumes:
        - {name: docker, hostPath: {path: /var/run/docker.sock}}
"""

BAD_TERRAFORM = """
resource "aws_s3_bucket" "open" {
  bucket = "open"
}

resource "aws_kms_key" "static" {
  enable_key_rotation = false
}

resource "aws_launch_template" "legacy" {
  metadata_options {
    http_tokens = "optional"
  }
}
"""

BAD_DOCKERFILE = """
FROM python:latest
ADD https://example.org/tool.tar.gz /opt/
USER root
"""


def test_bad_manifest_terraform_and_dockerfile_fail_by_check(checkov: str, tmp_path: Path) -> None:
    (tmp_path / "workload.yaml").write_text(BAD_WORKLOAD)
    (tmp_path / "main.tf").write_text(BAD_TERRAFORM)
    (tmp_path / "Dockerfile").write_text(BAD_DOCKERFILE)
    report = security_scan.run_checkov(tmp_path)
    failed: dict[str, set[str]] = {}
    for failure in report.failed:
        failed.setdefault(failure.resource, set()).add(failure.check_id)
    assert {
        "CKV_K8S_16",  # privileged
        "CKV_K8S_11",  # no CPU limit
        "CKV_K8S_13",  # no memory limit
        "CKV_K8S_19",  # host network
        "CKV_K8S_20",  # privilege escalation allowed
        "CKV_K8S_23",  # root
        "CKV_K8S_25",  # added capability
        "CKV_K8S_27",  # the Docker socket mounted
        "CKV_K8S_37",  # capabilities not dropped
        "CKV_K8S_14",  # :latest
        "CKV_K8S_38",  # ServiceAccount token mounted
        "CKV_K8S_31",  # no seccomp profile
    } <= failed["Deployment.tabular-mlops.bad"]
    assert {"CKV2_AWS_6", "CKV_AWS_145", "CKV_AWS_21"} <= failed["aws_s3_bucket.open"]
    assert "CKV_AWS_7" in failed["aws_kms_key.static"]
    assert "CKV_AWS_79" in failed["aws_launch_template.legacy"]
    dockerfile = {
        check for resource, checks in failed.items() if resource.startswith("/Dockerfile") for check in checks
    }
    assert {"CKV_DOCKER_2", "CKV_DOCKER_4", "CKV_DOCKER_7", "CKV_DOCKER_8"} <= dockerfile
    assert all(failure.file.startswith(("workload.yaml:", "main.tf:", "Dockerfile:")) for failure in report.failed)


def test_unparsable_terraform_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.tf").write_text('resource "aws_s3_bucket" "x" {\n  bucket = \n')
    with pytest.raises(AssertionError, match="broken.tf does not parse as HCL"):
        load_terraform(tmp_path)


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
    assert [obj for obj in inside if obj["kind"] in ("Deployment", "StatefulSet", "Job")], "no workload checked"
    rejected = [violation for obj in inside for violation in restricted_violations(obj)]
    assert not rejected, "\n".join(rejected)


def test_the_restricted_check_rejects_a_bad_workload() -> None:
    violations = set(restricted_violations(yaml.safe_load(BAD_WORKLOAD)))
    where = "Deployment/tabular-mlops/bad container app"
    assert violations == {
        "Deployment/tabular-mlops/bad: hostNetwork is true",
        "Deployment/tabular-mlops/bad: volume docker is not of an admitted type",
        f"{where}: privileged",
        f"{where}: allowPrivilegeEscalation is not false",
        f"{where}: runAsNonRoot is not true",
        f"{where}: runAsUser is 0",
        f"{where}: capabilities.drop lacks ALL",
        f"{where}: adds capabilities ['NET_ADMIN']",
        f"{where}: seccompProfile is not RuntimeDefault or Localhost",
    }
