"""The tasks that launch GPU jobs (tune always, train with 2 or more workers) get their pod's name and UID
from the downward API, in the compiled pipeline's platform spec: the jobs name that pod as their owner."""

from pathlib import Path

import pytest
import yaml

from components.common.cluster import LAUNCHER_POD_NAME_ENV, LAUNCHER_POD_UID_ENV
from pipelines.__main__ import main

DOWNWARD = [
    {"name": LAUNCHER_POD_NAME_ENV, "fieldPath": "metadata.name"},
    {"name": LAUNCHER_POD_UID_ENV, "fieldPath": "metadata.uid"},
]


def _executors(path: Path) -> dict:
    assert main(["compile", "--output", str(path)]) == 0
    _, platform = yaml.safe_load_all(path.read_text())
    return platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_one_worker_trains_in_its_pod_and_only_tune_launches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAIN_WORKERS", raising=False)
    executors = _executors(tmp_path / "one.yaml")
    assert executors["exec-tune"]["fieldPathAsEnv"] == DOWNWARD
    launchers = {name for name, executor in executors.items() if "fieldPathAsEnv" in executor}
    assert launchers == {"exec-tune"}


def test_train_on_workers_is_a_launcher_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAIN_WORKERS", "2")
    executors = _executors(tmp_path / "workers.yaml")
    assert executors["exec-train"]["fieldPathAsEnv"] == DOWNWARD
    assert executors["exec-tune"]["fieldPathAsEnv"] == DOWNWARD
