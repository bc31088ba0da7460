"""The scripts under infra/scripts: shellcheck-clean, strict mode, and the minikube verbs fail fast and say
why when minikube or kubectl is missing (tested with a PATH that lacks them; no cluster needed)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from infra_checks import INFRA, REPO, require_tool

pytestmark = pytest.mark.infra

SCRIPTS = sorted((INFRA / "scripts").glob("*.sh"))
LIBRARY = INFRA / "scripts" / "lib.sh"
SHELLCHECK = "/usr/bin/shellcheck"
# Each minikube verb and the tools it needs (minikube-down deletes the profile with minikube alone).
MINIKUBE_VERBS = {
    "minikube-up.sh": ("minikube", "kubectl"),
    "minikube-down.sh": ("minikube",),
    "test-minikube.sh": ("minikube", "kubectl"),
}


def shellcheck(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool(SHELLCHECK, "lints the scripts")
    return subprocess.run(
        [tool, "--external-sources", *map(str, paths)], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_scripts_are_shellcheck_clean() -> None:
    result = shellcheck(*SCRIPTS)
    assert result.returncode == 0, result.stdout


def test_shellcheck_flags_a_sloppy_script(tmp_path: Path) -> None:
    sloppy = tmp_path / "sloppy.sh"
    sloppy.write_text("#!/usr/bin/env bash\nset -euo pipefail\ntarget=$1\nrm -rf $target/*\n")
    result = shellcheck(sloppy)
    assert result.returncode != 0 and "SC2086" in result.stdout


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s != LIBRARY], ids=lambda path: path.name)
def test_scripts_are_strict_executable_bash(script: Path) -> None:
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines, f"{script.name} lacks `set -euo pipefail`"
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.fixture(scope="module")
def toolbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of every command in /usr/bin and /bin except minikube and kubectl: a PATH that lacks them."""
    tools = tmp_path_factory.mktemp("toolbox")
    for directory in (Path("/usr/bin"), Path("/bin")):
        for command in directory.iterdir():
            target = tools / command.name
            if command.name not in ("minikube", "kubectl") and not target.exists() and os.access(command, os.X_OK):
                target.symlink_to(command)
    return tools


def _run_with_stub(script: str, stub: str, toolbox: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a verb with only `stub` of the two tools present, as a command that records being called."""
    (tmp_path / stub).write_text(f'#!/bin/sh\necho "{stub} $*" >>"{tmp_path}/calls"\nexit 99\n')
    (tmp_path / stub).chmod(0o755)
    env = {"PATH": f"{tmp_path}:{toolbox}", "HOME": str(tmp_path)}
    return subprocess.run([INFRA / "scripts" / script], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("script", sorted(MINIKUBE_VERBS), ids=str)
def test_minikube_verbs_fail_fast_when_minikube_is_missing(toolbox: Path, tmp_path: Path, script: str) -> None:
    result = _run_with_stub(script, "kubectl", toolbox, tmp_path)
    assert result.returncode == 127
    assert "error: minikube not found on PATH" in result.stderr
    assert "https://minikube.sigs.k8s.io" in result.stderr
    assert not (tmp_path / "calls").exists(), "the script ran a tool before checking for all of them"


@pytest.mark.parametrize("script", [name for name, tools in MINIKUBE_VERBS.items() if "kubectl" in tools], ids=str)
def test_minikube_verbs_fail_fast_when_kubectl_is_missing(toolbox: Path, tmp_path: Path, script: str) -> None:
    result = _run_with_stub(script, "minikube", toolbox, tmp_path)
    assert result.returncode == 127
    assert "error: kubectl not found on PATH; run 'make setup'" in result.stderr
    assert "minikube not found" not in result.stderr
    assert not (tmp_path / "calls").exists(), "the script ran a tool before checking for all of them"


@pytest.mark.parametrize("target", ["minikube-up", "minikube-down"])
def test_make_targets_fail_fast_without_minikube(toolbox: Path, tmp_path: Path, target: str) -> None:
    """Through make, as a user runs them (make adds .venv/bin, so kubectl is there and minikube is the gap)."""
    result = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=REPO,
        env={"PATH": str(toolbox), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "error: minikube not found on PATH" in result.stderr


def test_kubeflow_pipelines_is_pinned_to_a_release() -> None:
    script = (INFRA / "scripts" / "minikube-up.sh").read_text()
    assert re.search(r"^PIPELINE_VERSION=\$\{PIPELINE_VERSION:-\d+\.\d+\.\d+\}$", script, re.MULTILINE)
    applies = re.findall(r"kubectl apply -k \"(\S+)\"", script)
    assert applies and all(url.endswith("?ref=$PIPELINE_VERSION") for url in applies), applies


def test_mlflow_server_image_is_pinned() -> None:
    dockerfile = (INFRA / "docker" / "mlflow-server" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.MULTILINE)
    install = dockerfile.split("pip install", 1)[1].split("&&", 1)[0]
    packages = [word.strip('"') for word in install.split() if not word.startswith("-") and word != "\\"]
    assert packages and all("==" in package for package in packages), f"unpinned: {packages}"
    assert re.search(r"^USER \d+", dockerfile, re.MULTILINE), "the MLflow image must not run as root"
