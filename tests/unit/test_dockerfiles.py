"""Every step has an image definition with the essentials (no Docker engine here to build them)."""

import re
from pathlib import Path

import pytest

from components.common import images

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
STEPS = ("validate", "transform", "train", "evaluate", "push")


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


@pytest.mark.parametrize("step", STEPS)
def test_step_image_is_pinned_non_root_and_installs_the_project(step):
    dockerfile = COMPONENTS / step / "Dockerfile"
    instructions = _instructions(dockerfile)
    base = [argument for name, argument in instructions if name == "FROM"]
    assert len(base) == 1 and re.fullmatch(r"[\w./-]+:\d[\w.-]*", base[0]), f"{dockerfile}: unpinned FROM {base}"
    users = [argument for name, argument in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, f"{dockerfile}: must end as a non-root USER"
    runs = " ".join(argument for name, argument in instructions if name == "RUN")
    assert "--requirement requirements.lock" in runs and "install --no-deps ." in runs
    assert not any(
        name in {"ENV", "ARG"} and re.search(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY)", arg) for name, arg in instructions
    )


def test_trainer_has_a_cuda_base_and_the_other_steps_share_one_image():
    assert "-gpu" in _instructions(COMPONENTS / "train" / "Dockerfile")[0][1]
    shared = {(COMPONENTS / step / "Dockerfile").resolve() for step in STEPS if step != "train"}
    assert shared == {COMPONENTS / "common" / "Dockerfile"}
    assert images.TRAINER_IMAGE != images.PIPELINE_IMAGE
