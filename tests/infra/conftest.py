"""Rendered overlays and parsed Terraform, made once per session (kustomize takes a second per overlay)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import yaml
from infra_checks import KUSTOMIZE, OVERLAYS, REPO, load_terraform, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Overlay name -> its objects, as `kubectl kustomize infra/k8s/overlays/<name>` prints them."""
    return {overlay: render(KUSTOMIZE / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def terraform() -> dict[str, Any]:
    return load_terraform()


@pytest.fixture(scope="session")
def compiled_pipeline(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The documents of `python -m pipelines compile` (pipeline spec, then platform config), default settings."""
    output = tmp_path_factory.mktemp("compiled") / "training_pipeline.yaml"
    env = {key: value for key, value in os.environ.items() if key not in ("GPU_NODE_POOL_LABEL_KEY", "GPU_NODE_POOL")}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "compile", "--output", str(output)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"python -m pipelines compile failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(output.read_text()) if doc]
