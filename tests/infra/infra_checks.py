"""Offline checks of infra/: render the kustomize overlays, parse the Terraform, and find security problems.

The security rules stand in for checkov (which cannot share the project's lock): each finding names the
rule, the object and the field, and is either fixed or waived, with its reason, in infra/security-waivers.yaml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import hcl2
import pytest
import yaml
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
KUSTOMIZE = INFRA / "k8s"
OVERLAYS = ("minikube", "eks")
TERRAFORM = INFRA / "terraform"
WAIVERS = INFRA / "security-waivers.yaml"
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
LONG_RUNNING = {"Deployment", "StatefulSet"}
# Environment variables whose literal value would be a committed secret.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|ACCESS_KEY|CREDENTIAL", re.IGNORECASE)
# What looks like a credential inside a ConfigMap or an argument: user:password@ in a URL, or key = value.
INLINE_CREDENTIAL = re.compile(r"://[^/\s:@]+:[^/\s@$]+@|(password|secret|token)\s*[=:]\s*\S", re.IGNORECASE)


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
    """Kind/namespace/name, or Kind/name for cluster-scoped objects: how findings and waivers name an object."""
    metadata = obj.get("metadata", {})
    parts = [obj.get("kind", "?"), metadata.get("namespace"), metadata.get("name", "?")]
    return "/".join(part for part in parts if part)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    target: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.target} {self.field}: {self.message}"


def _dig(obj: dict[str, Any], path: Iterable[str]) -> Any:
    for key in path:
        obj = (obj or {}).get(key)
    return obj


def pod_spec(obj: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(field path, pod spec) of a workload, None for other kinds."""
    path = POD_SPEC_PATHS.get(obj.get("kind", ""))
    if path is None:
        return None
    return ".".join(path), _dig(obj, path) or {}


def _image_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (pulls :latest)"
    if name.endswith(":latest"):
        return "uses the moving tag :latest"
    return None


def _container_findings(obj: dict[str, Any], spec_path: str, spec: dict[str, Any]) -> Iterator[Finding]:
    target = object_id(obj)
    pod_security = spec.get("securityContext") or {}
    containers = [("containers", c) for c in spec.get("containers", [])]
    containers += [("initContainers", c) for c in spec.get("initContainers", [])]
    for group, container in containers:
        field = f"{spec_path}.{group}[{container.get('name')}]"
        security = container.get("securityContext") or {}

        def high(rule: str, subfield: str, message: str, field: str = field) -> Finding:
            return Finding(rule, "HIGH", target, f"{field}.{subfield}", message)

        if security.get("privileged"):
            yield high("privileged-container", "securityContext.privileged", "runs privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            yield high("privilege-escalation", "securityContext.allowPrivilegeEscalation", "must be false")
        run_as_non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        run_as_user = security.get("runAsUser", pod_security.get("runAsUser"))
        if run_as_non_root is not True or run_as_user == 0:
            yield high("run-as-non-root", "securityContext.runAsNonRoot", "must be true (and runAsUser not 0)")
        if security.get("readOnlyRootFilesystem") is not True:
            yield high("read-only-root-filesystem", "securityContext.readOnlyRootFilesystem", "must be true")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield high("drop-all-capabilities", "securityContext.capabilities.drop", "must contain ALL")
        if capabilities.get("add"):
            yield high("added-capabilities", "securityContext.capabilities.add", f"adds {capabilities['add']}")
        seccomp = _dig(security, ("seccompProfile", "type")) or _dig(pod_security, ("seccompProfile", "type"))
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield Finding("seccomp-profile", "MEDIUM", target, f"{field}.securityContext.seccompProfile", "not set")
        image = container.get("image", "")
        problem = _image_problem(image)
        if problem:
            yield high("image-pinned", "image", f"{image!r} {problem}")
        limits = _dig(container, ("resources", "limits")) or {}
        requests = _dig(container, ("resources", "requests")) or {}
        for resource in ("cpu", "memory"):
            if resource not in limits:
                yield high("resource-limits", f"resources.limits.{resource}", "missing")
            if resource not in requests:
                yield high("resource-requests", f"resources.requests.{resource}", "missing")
        for env in container.get("env", []):
            literal = env.get("value", "")
            if literal and (SECRET_NAME.search(env["name"]) or INLINE_CREDENTIAL.search(literal)):
                yield high("secret-by-reference", f"env[{env['name']}]", "holds a literal value: use secretKeyRef")
        for index, arg in enumerate(container.get("args", []) + container.get("command", [])):
            if INLINE_CREDENTIAL.search(str(arg)):
                yield high("secret-by-reference", f"args[{index}]", "holds a credential")
        if obj["kind"] in LONG_RUNNING and group == "containers":
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    yield Finding("probes", "MEDIUM", target, f"{field}.{probe}", "missing")


def k8s_findings(objects: Iterable[dict[str, Any]]) -> list[Finding]:
    """Every security finding in rendered manifests."""
    findings: list[Finding] = []
    for obj in objects:
        target, kind = object_id(obj), obj.get("kind")
        located = pod_spec(obj)
        if located:
            spec_path, spec = located
            for flag in ("hostNetwork", "hostPID", "hostIPC"):
                if spec.get(flag):
                    findings.append(Finding("host-namespaces", "HIGH", target, f"{spec_path}.{flag}", "is true"))
            for volume in spec.get("volumes", []):
                if "hostPath" in volume:
                    findings.append(
                        Finding(
                            "host-path-volume",
                            "HIGH",
                            target,
                            f"{spec_path}.volumes[{volume['name']}].hostPath",
                            f"mounts {volume['hostPath'].get('path')} from the node",
                        )
                    )
            findings.extend(_container_findings(obj, spec_path, spec))
        elif kind == "Secret":
            findings.append(Finding("secret-by-reference", "HIGH", target, "data", "a Secret is committed"))
        elif kind == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                if INLINE_CREDENTIAL.search(str(value)):
                    findings.append(Finding("secret-by-reference", "HIGH", target, f"data.{key}", "holds a credential"))
        elif kind in ("Role", "ClusterRole"):
            for index, rule in enumerate(obj.get("rules", [])):
                field = f"rules[{index}]"
                for key in ("apiGroups", "resources", "verbs"):
                    if "*" in (rule.get(key) or []):
                        findings.append(Finding("rbac-wildcard", "HIGH", target, f"{field}.{key}", "contains '*'"))
                reads = {"get", "list", "watch"} & set(rule.get("verbs", []))
                if "secrets" in rule.get("resources", []) and reads and not rule.get("resourceNames"):
                    findings.append(
                        Finding("rbac-secrets", "HIGH", target, f"{field}.resourceNames", "reads every Secret")
                    )
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            if _dig(obj, ("roleRef", "name")) in ("cluster-admin", "admin", "edit"):
                findings.append(Finding("rbac-wildcard", "HIGH", target, "roleRef.name", "binds a built-in broad role"))
        elif kind == "Service" and _dig(obj, ("spec", "type")) in ("LoadBalancer", "NodePort"):
            findings.append(Finding("service-exposed", "HIGH", target, "spec.type", "exposes the Service outside"))
        elif kind == "Ingress" and not _dig(obj, ("spec", "tls")):
            findings.append(Finding("ingress-tls", "HIGH", target, "spec.tls", "serves credentials in clear text"))
    return findings


# ---------------------------------------------------------------- Terraform


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


def _first(block: Any) -> dict[str, Any]:
    """HCL nested blocks arrive as a list of one dict."""
    if isinstance(block, list):
        return block[0] if block else {}
    return block or {}


def _for_bucket(resources: dict[str, Any], type_: str, bucket: str) -> list[dict[str, Any]]:
    reference = f"${{aws_s3_bucket.{bucket}.id}}"
    return [body for body in resources.get(type_, {}).values() if body.get("bucket") == reference]


def terraform_findings(tf: dict[str, Any]) -> list[Finding]:
    """Security findings in parsed Terraform, checkov-style, on what this project's Terraform declares."""
    findings: list[Finding] = []
    resources = tf["resource"]
    for name in resources.get("aws_s3_bucket", {}):
        target = f"aws_s3_bucket.{name}"
        blocks = _for_bucket(resources, "aws_s3_bucket_public_access_block", name)
        settings = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        if not blocks or not all(blocks[0].get(setting) is True for setting in settings):
            findings.append(Finding("s3-public-access", "HIGH", target, "public_access_block", "not all four true"))
        versioning = _for_bucket(resources, "aws_s3_bucket_versioning", name)
        if not versioning or _first(versioning[0].get("versioning_configuration")).get("status") != "Enabled":
            findings.append(Finding("s3-versioning", "HIGH", target, "versioning_configuration.status", "not Enabled"))
        encryption = _for_bucket(resources, "aws_s3_bucket_server_side_encryption_configuration", name)
        rule = (
            _first(_first(encryption[0].get("rule")).get("apply_server_side_encryption_by_default"))
            if encryption
            else {}
        )
        if rule.get("sse_algorithm") not in ("aws:kms", "aws:kms:dsse"):
            findings.append(Finding("s3-encryption", "HIGH", target, "sse_algorithm", "not encrypted with KMS"))
        policies = _for_bucket(resources, "aws_s3_bucket_policy", name)
        if not any("aws:SecureTransport" in str(policy.get("policy")) for policy in policies):
            findings.append(Finding("s3-tls-only", "HIGH", target, "bucket policy", "does not deny plain HTTP"))
        if not _for_bucket(resources, "aws_s3_bucket_logging", name):
            findings.append(Finding("s3-access-logging", "MEDIUM", target, "aws_s3_bucket_logging", "missing"))
    for name, key in resources.get("aws_kms_key", {}).items():
        if key.get("enable_key_rotation") is not True:
            findings.append(Finding("kms-rotation", "HIGH", f"aws_kms_key.{name}", "enable_key_rotation", "not true"))
    for name, template in resources.get("aws_launch_template", {}).items():
        target = f"aws_launch_template.{name}"
        metadata = _first(template.get("metadata_options"))
        if metadata.get("http_tokens") != "required":
            findings.append(Finding("imds-v2", "HIGH", target, "metadata_options.http_tokens", "must be required"))
        if metadata.get("http_put_response_hop_limit", 2) > 1:
            findings.append(
                Finding("imds-hop-limit", "MEDIUM", target, "http_put_response_hop_limit", "pods reach IMDS")
            )
        for mapping in template.get("block_device_mappings", []):
            if _first(mapping.get("ebs")).get("encrypted") is not True:
                findings.append(
                    Finding("ebs-encryption", "HIGH", target, "block_device_mappings.ebs.encrypted", "not true")
                )
    for type_ in ("aws_eks_node_group",):
        for name, group in resources.get(type_, {}).items():
            if "remote_access" in group:
                findings.append(Finding("node-ssh", "HIGH", f"{type_}.{name}", "remote_access", "opens SSH to nodes"))
    for name, attachment in resources.get("aws_iam_role_policy_attachment", {}).items():
        if re.search(r"AdministratorAccess|PowerUserAccess|IAMFullAccess", str(attachment)):
            findings.append(
                Finding("iam-wildcard", "HIGH", f"aws_iam_role_policy_attachment.{name}", "policy_arn", "admin")
            )
    for name, document in tf["data"].get("aws_iam_policy_document", {}).items():
        target = f"data.aws_iam_policy_document.{name}"
        for index, statement in enumerate(document.get("statement", [])):
            if statement.get("effect", "Allow") != "Allow":
                continue
            actions = statement.get("actions", [])
            if any(action == "*" or action.endswith(":*") for action in actions):
                findings.append(Finding("iam-wildcard", "HIGH", target, f"statement[{index}].actions", str(actions)))
            if statement.get("resources") == ["*"]:
                findings.append(Finding("iam-wildcard", "HIGH", target, f"statement[{index}].resources", "'*'"))
            if "sts:AssumeRoleWithWebIdentity" in actions:
                tests = {
                    (c.get("test"), str(c.get("variable")).rsplit(":", 1)[-1]) for c in statement.get("condition", [])
                }
                if not {("StringEquals", "sub"), ("StringEquals", "aud")} <= tests:
                    findings.append(
                        Finding(
                            "irsa-trust", "HIGH", target, f"statement[{index}].condition", "not pinned to sub and aud"
                        )
                    )
    return findings


# ---------------------------------------------------------------- waivers


def load_waivers(path: Path = WAIVERS) -> list[dict[str, str]]:
    waivers = yaml.safe_load(path.read_text())["waivers"]
    for waiver in waivers:
        missing = {"rule", "target", "reason"} - {key for key, value in waiver.items() if value}
        assert not missing, f"{path.relative_to(REPO)}: waiver {waiver} lacks {sorted(missing)}"
    return waivers


def waived(finding: Finding, waiver: dict[str, str]) -> bool:
    return waiver["rule"] == finding.rule and waiver["target"] == finding.target


def unwaived(findings: Iterable[Finding], waivers: list[dict[str, str]]) -> list[Finding]:
    return [finding for finding in findings if not any(waived(finding, waiver) for waiver in waivers)]
