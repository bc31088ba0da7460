"""Container images the pipeline's components run in on a cluster: `<REGISTRY>/<name>:<VERSION>`.

KFP fixes a component's image when the component is defined, so the tags are read from the environment
when this module is first imported: `make compile` and `make images` see the same REGISTRY and VERSION
and the compiled pipeline names exactly the images that were built.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REGISTRY = "ghcr.io/tabular-mlops"
# Outside a git checkout (e.g. inside the images themselves) there is no commit to name.
UNVERSIONED = "unversioned"

# Image name -> its Dockerfile, relative to the repository root (the build context).
DOCKERFILES = {
    "pipeline": "components/common/Dockerfile",
    "trainer": "components/train/Dockerfile",
}


def image_version(env: Mapping[str, str] | None = None) -> str:
    """VERSION, else the checkout's commit as `git rev-parse --short=12 HEAD` prints it (as the Makefile does)."""
    env = os.environ if env is None else env
    if env.get("VERSION"):
        return env["VERSION"]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return UNVERSIONED
    return commit.stdout.strip()


def image_ref(name: str, env: Mapping[str, str] | None = None) -> str:
    """`<REGISTRY>/<name>:<VERSION>` for one of DOCKERFILES' images."""
    if name not in DOCKERFILES:
        raise ValueError(f"unknown image {name!r}: expected one of {sorted(DOCKERFILES)}")
    env = os.environ if env is None else env
    registry = (env.get("REGISTRY") or DEFAULT_REGISTRY).rstrip("/")
    return f"{registry}/{name}:{image_version(env)}"


PIPELINE_IMAGE = image_ref("pipeline")
TRAINER_IMAGE = image_ref("trainer")
