"""Every image definition has the essentials (no Docker engine here to build them), and `make images`
tags exactly what the compiled pipeline names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from components.common import images

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "components"
STEPS = ("validate", "transform", "tune", "train", "evaluate", "push", "deploy")
STEP_IMAGE = {
    "validate": "pipeline",
    "transform": "pipeline",
    "tune": "trainer",
    "train": "trainer",
    "deploy": "pipeline",
    "evaluate": "pipeline",
    "push": "pipeline",
}
SECRETISH = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY|CREDENTIAL|AKIA[0-9A-Z]{16})", re.IGNORECASE)


@pytest.fixture(scope="module")
def compiled_pipeline(tmp_path_factory) -> dict:
    from pipelines.__main__ import main

    output = tmp_path_factory.mktemp("compile") / "pipeline.yaml"
    assert main(["compile", "--output", str(output)]) == 0
    return next(yaml.safe_load_all(output.read_text()))


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _arguments(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [argument for instruction, argument in instructions if instruction == name]


@pytest.mark.parametrize("image", sorted(images.DOCKERFILES))
def test_image_is_pinned_non_root_and_installs_the_project(image):
    dockerfile = ROOT / images.DOCKERFILES[image]
    instructions = _instructions(dockerfile)
    bases = _arguments(instructions, "FROM")
    assert len(bases) == 1, f"{dockerfile}: expected one FROM, got {bases}"
    assert re.fullmatch(r"[\w./-]+:\d[\w.-]*(@sha256:[0-9a-f]{64})?", bases[0]), f"{dockerfile}: unpinned FROM {bases}"
    users = _arguments(instructions, "USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}, f"{dockerfile}: must end as a non-root USER"
    runs = " ".join(_arguments(instructions, "RUN"))
    # Runtime dependencies from pyproject, every version from the one lock; then the project, without deps.
    wanted = "python3 -m pip install --compile --requirement runtime.txt --constraint requirements.lock"
    assert wanted in runs, dockerfile
    assert '["project"]["dependencies"]' in runs, f"{dockerfile}: runtime.txt must come from pyproject's dependencies"
    assert "python3 -m pip install --compile --no-deps ." in runs, f"{dockerfile}: install the project as a package"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {argument.split()[0].rstrip("/") for argument in _arguments(instructions, "COPY")}
    assert {package.rstrip("*") for package in packages} <= copied, f"{dockerfile}: copies {copied}"
    for instruction, argument in instructions:
        assert not (instruction in {"ENV", "ARG", "LABEL"} and SECRETISH.search(argument)), (dockerfile, argument)
    assert not SECRETISH.search(" ".join(argument for _, argument in instructions if _ == "COPY")), dockerfile


@pytest.mark.parametrize("image", sorted(images.DOCKERFILES))
def test_image_leaves_the_entrypoint_to_kfp(image, compiled_pipeline):
    """KFP starts each step as `sh -ec ... python3 -m kfp.dsl.executor_main`: the image must not wrap it."""
    instructions = _instructions(ROOT / images.DOCKERFILES[image])
    assert not _arguments(instructions, "ENTRYPOINT") and not _arguments(instructions, "CMD")
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(dependency.startswith("kfp==") for dependency in dependencies), "the images need kfp's executor"
    commands = [
        executor["container"]["command"]
        for executor in compiled_pipeline["deploymentSpec"]["executors"].values()
        if executor["container"]["image"].split("/")[-1].split(":")[0] == image
    ]
    assert commands, f"no task runs in the {image} image"
    for command in commands:
        assert command[:2] == ["sh", "-ec"] and "python3 -m kfp.dsl.executor_main" in command[2]


def test_each_step_folder_links_to_the_image_it_runs_in(compiled_pipeline):
    for step in STEPS:
        assert (COMPONENTS / step / "Dockerfile").resolve() == ROOT / images.DOCKERFILES[STEP_IMAGE[step]], step
    assert "-gpu" in _arguments(_instructions(ROOT / images.DOCKERFILES["trainer"]), "FROM")[0]
    executors = compiled_pipeline["deploymentSpec"]["executors"]
    assert {step: executors[f"exec-{step}"]["container"]["image"] for step in STEPS} == {
        step: images.image_ref(STEP_IMAGE[step]) for step in STEPS
    }


def test_build_context_holds_only_what_the_images_copy():
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert patterns[0] == "**", "everything is excluded first"
    included = {pattern.removeprefix("!").rstrip("/") for pattern in patterns if pattern.startswith("!")}
    for dockerfile in set(images.DOCKERFILES.values()):
        for argument in _arguments(_instructions(ROOT / dockerfile), "COPY"):
            sources = argument.split()[:-1]
            assert {source.rstrip("/") for source in sources} <= included, (dockerfile, sources)


def _make_dry_run(target: str, **variables: str) -> list[str]:
    env = {name: value for name, value in os.environ.items() if name not in {"REGISTRY", "VERSION"}}
    command = ["make", "--no-print-directory", "-n", target, *(f"{name}={value}" for name, value in variables.items())]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def test_make_images_builds_and_pushes_exactly_the_tags_the_pipeline_names():
    variables = {"REGISTRY": "registry.example.com/team", "VERSION": "1a2b3c"}
    expected = {name: images.image_ref(name, variables) for name in images.DOCKERFILES}
    builds = _make_dry_run("images", **variables)
    assert sorted(builds) == sorted(
        f"docker build -f {images.DOCKERFILES[name]} -t {tag} ." for name, tag in expected.items()
    )
    assert sorted(_make_dry_run("push-images", **variables)) == sorted(
        f"docker push {tag}" for tag in expected.values()
    )


def test_version_defaults_to_the_git_commit_in_make_and_in_python():
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if commit.returncode != 0:
        pytest.skip("not a git checkout")
    sha = commit.stdout.strip()
    assert images.image_version({}) == sha
    assert images.image_ref("trainer", {}) == f"{images.DEFAULT_REGISTRY}/trainer:{sha}"
    assert any(line.endswith(f"-t {images.DEFAULT_REGISTRY}/trainer:{sha} .") for line in _make_dry_run("images"))


def test_compile_writes_the_registry_and_version_it_is_given(tmp_path):
    output = tmp_path / "pipeline.yaml"
    env = {**os.environ, "REGISTRY": "registry.example.com/team", "VERSION": "1a2b3c"}
    subprocess.run(
        [sys.executable, "-m", "pipelines", "compile", "--output", str(output)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    executors = next(yaml.safe_load_all(output.read_text()))["deploymentSpec"]["executors"]
    assert {executor["container"]["image"] for executor in executors.values()} == {
        "registry.example.com/team/pipeline:1a2b3c",
        "registry.example.com/team/trainer:1a2b3c",
    }
