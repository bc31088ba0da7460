"""checkov over everything this repository deploys: `make security-scan`, and tests/infra/test_security.py.

checkov reads a scan tree that mirrors the repository: each kustomization as `kubectl kustomize` renders it
(<dir>/rendered.yaml, patches and generators applied as on a cluster), the Terraform module and every
Dockerfile, copied. A finding's file is therefore a repository path. checkov runs from its own environment,
.venv-checkov (requirements-checkov.lock), offline. Waivers live where checkov reads them: `checkov.io/skipN`
annotations on the objects and `checkov:skip=ID:reason` comments in the HCL and Dockerfiles.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
KUBECTL = REPO / ".venv" / "bin" / "kubectl"
# Every kustomization a cluster is given (`kubectl apply -k <dir>`); base is scanned on its own too.
KUSTOMIZATIONS = ("infra/k8s/base", "infra/k8s/overlays/minikube", "infra/k8s/overlays/eks", "monitoring")
TERRAFORM = "infra/terraform"
RENDERED = "rendered.yaml"
FRAMEWORKS = ("kubernetes", "terraform", "dockerfile")
# Folders never searched for Dockerfiles: hidden ones (.git, .venv, .venv-checkov) and local outputs.
NOT_SOURCE = {"build", "data", "mlruns", "node_modules"}


@dataclass(frozen=True)
class Result:
    """One check on one resource; `reason` is the waiver's, for a skipped check."""

    check_id: str
    check_name: str
    resource: str
    file: str
    reason: str = ""

    def __str__(self) -> str:
        waiver = f" [waived: {self.reason}]" if self.reason else ""
        return f"{self.check_id} {self.resource} ({self.file}): {self.check_name}{waiver}"


@dataclass(frozen=True)
class Report:
    version: str
    passed: list[Result]
    failed: list[Result]
    skipped: list[Result]
    parsing_errors: list[str]

    def summary(self) -> str:
        return (
            f"checkov {self.version}: {len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.skipped)} waived, {len(self.parsing_errors)} files not parsed"
        )


def dockerfiles(root: Path = REPO) -> list[str]:
    """Every Dockerfile under root, relative to it, each once (the CPU steps' folders link to one file)."""
    found: dict[Path, str] = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d not in NOT_SOURCE)
        for name in sorted(files):
            if name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
                path = Path(directory, name).resolve()
                found.setdefault(path, str(path.relative_to(root)))
    return sorted(found.values())


def render(kustomization: str) -> str:
    """`kubectl kustomize` of one directory of the repository; a render error raises with kustomize's message."""
    if not KUBECTL.exists():
        raise FileNotFoundError(f"{KUBECTL} is missing: run `make setup`")
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(REPO / kustomization)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {kustomization} failed:\n{result.stderr}")
    return result.stdout


def build_scan_tree(dest: Path) -> Path:
    """Write the rendered kustomizations, the Terraform and the Dockerfiles under dest, at their repository paths."""
    for kustomization in KUSTOMIZATIONS:
        target = dest / kustomization / RENDERED
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(kustomization))
    (dest / TERRAFORM).mkdir(parents=True, exist_ok=True)
    for module_file in sorted((REPO / TERRAFORM).glob("*.tf")):
        shutil.copyfile(module_file, dest / TERRAFORM / module_file.name)
    for dockerfile in dockerfiles():
        (dest / dockerfile).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / dockerfile, dest / dockerfile)
    return dest


def _result(entry: dict[str, Any]) -> Result:
    start, end = entry["file_line_range"]
    return Result(
        check_id=entry["check_id"],
        check_name=entry["check_name"],
        resource=entry["resource"],
        file=f"{entry['file_path'].lstrip('/')}:{start}-{end}",
        reason=entry["check_result"].get("suppress_comment", ""),
    )


def run_checkov(directory: Path) -> Report:
    """checkov (kubernetes, terraform, dockerfile) over one directory, parsed from its JSON output."""
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: run `make setup`")
    command = [str(CHECKOV), "--directory", str(directory), "--framework", *FRAMEWORKS]
    command += ["--output", "json", "--compact", "--skip-download"]
    # From the repository root, so that a .checkov.yaml there would apply, as it does to anyone's run.
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    # checkov exits 1 when a check fails; anything else is a broken run.
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {result.returncode}:\n{result.stderr[-4000:]}")
    reports = json.loads(result.stdout)
    passed: list[Result] = []
    failed: list[Result] = []
    skipped: list[Result] = []
    errors: list[str] = []
    version = ""
    # One report per framework that found files (a list), a bare one for a single framework.
    for report in reports if isinstance(reports, list) else [reports]:
        version = report.get("summary", report).get("checkov_version", version)
        results = report.get("results", {})
        passed += [_result(entry) for entry in results.get("passed_checks", [])]
        failed += [_result(entry) for entry in results.get("failed_checks", [])]
        skipped += [_result(entry) for entry in results.get("skipped_checks", [])]
        errors += [str(path) for path in results.get("parsing_errors", [])]
    return Report(version, passed, failed, skipped, errors)


def scan_repository() -> Report:
    with tempfile.TemporaryDirectory(prefix="security-scan-") as workdir:
        return run_checkov(build_scan_tree(Path(workdir)))


def main() -> int:
    report = scan_repository()
    for waived in report.skipped:
        print(f"waived  {waived}")
    for failure in report.failed:
        print(f"FAILED  {failure}")
    for path in report.parsing_errors:
        print(f"NOT PARSED  {path}")
    print(report.summary())
    return 1 if report.failed or report.parsing_errors else 0


if __name__ == "__main__":
    sys.exit(main())
