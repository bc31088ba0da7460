"""A pipeline run SIGKILLed during transform, during training and during push; the rerun must succeed
and leave no orphan version, alias, lock or upload.

Transform and train run in a child process that the test kills from outside once the step's
MLflow run exists (the step's run left RUNNING afterwards proves the kill landed mid-step).
Push kills itself at two chosen points, since its critical moments last milliseconds: after
the first file is copied, and after its version is registered while it holds the champion lock.
Every rerun uses the same pipeline run and the same output paths, as a KFP retry does. After each kill
and each rerun, TensorFlow Serving's highest folder is the champion's (tests/hardening/serving_invariant.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import pytest
import tensorflow as tf
from hardening_helpers import (
    MODEL_NAME,
    assert_registry_sound,
    champion_version,
    live_versions,
    new_pipeline_run,
)
from mlflow.entities import RunStatus
from serving_invariant import assert_champion_served

from components.common import tracking
from components.common.content import ContentDigest
from components.common.specs import spec_fingerprint
from components.push.leftovers import PUSH_STATE_TAG, STAGED, sweep_orphans
from components.push.lock import ChampionLock
from components.push.task import push_model
from components.train.hyperparameters import Hyperparameters
from components.train.step import run_train_step
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.task import TransformResult, run_transform_step

pytestmark = [pytest.mark.hardening, pytest.mark.slow]

ROWS = 600
KILLED = -signal.SIGKILL

STEP_CHILD = """
import json, sys
from pathlib import Path
step, arguments = sys.argv[1], json.loads(sys.argv[2])
if step == "transform":
    from components.common.content import ContentDigest
    from components.transform.task import run_transform_step
    for name in ("transform_graph_dir", "examples_dir", "eval_data_file"):
        arguments[name] = Path(arguments[name])
    arguments["data_digest"] = ContentDigest(**arguments["data_digest"])
    print("started", flush=True)
    run_transform_step(**arguments)
else:
    from components.train.hyperparameters import Hyperparameters
    from components.train.step import run_train_step
    for name in ("transform_graph_dir", "examples_dir", "export_dir"):
        arguments[name] = Path(arguments[name])
    hyperparameters = arguments["hyperparameters"]
    hyperparameters["hidden_units"] = tuple(hyperparameters["hidden_units"])
    arguments["hyperparameters"] = Hyperparameters(**hyperparameters)
    run_train_step(**arguments)
"""

PUSH_CHILD = """
import os, signal, sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from components.common import storage
from components.push.task import push_model
model, store, model_name, tracking_uri, run_id, where = sys.argv[1:]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
if where == "upload":
    copies = []
    real_copy = storage.shutil.copyfile
    def copy_then_die(source, target, *args, **kwargs):  # shutil's: MLflow's artifact downloads call it too
        copied = real_copy(source, target, *args, **kwargs)
        if str(target).startswith(store):
            copies.append(copied)
        if len(copies) == 2:
            die()
    storage.shutil.copyfile = copy_then_die
else:
    MlflowClient.set_registered_model_alias = die
push_model(Path(model), store, model_name, tracking_uri, run_id)
"""


@dataclass(frozen=True)
class Workspace:
    root: Path
    data: Path
    tracking_uri: str
    run_id: str

    def out(self, name: str) -> Path:
        return self.root / "outputs" / name


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, _empty_mlflow_db: Path, bundled_dataset: Path) -> Workspace:
    root = tmp_path_factory.mktemp("killed")
    (root / "mlflow.db").write_bytes(_empty_mlflow_db.read_bytes())
    data = root / "taxi.csv"
    data.write_text("".join(bundled_dataset.read_text().splitlines(keepends=True)[: ROWS + 1]))
    uri = f"sqlite:///{root}/mlflow.db"
    return Workspace(root, data, uri, new_pipeline_run(uri, "none"))


def _step_runs(workspace: Workspace, step: str) -> list[str]:
    """Statuses of the step's MLflow runs under the pipeline's run, oldest first."""
    client = tracking.client(workspace.tracking_uri)
    experiment = client.get_run(workspace.run_id).info.experiment_id
    runs = client.search_runs(
        [experiment],
        f"tags.mlflow.parentRunId = '{workspace.run_id}' and tags.step = '{step}'",
        order_by=["attributes.start_time ASC"],
    )
    return [run.info.status for run in runs]


def _as_json(value: object) -> object:
    return asdict(value) if is_dataclass(value) else str(value)


def _kill_mid_step(workspace: Workspace, step: str, arguments: dict, after_s: float) -> None:
    """Start the step in a child, SIGKILL it `after_s` seconds after it started working.

    Train has started when its MLflow run appears. Transform logs nothing to MLflow (it is cached, see
    components/transform/task.py): it has started when the child, its imports done, says so.
    """
    before = len(_step_runs(workspace, step))
    child = subprocess.Popen(
        [sys.executable, "-c", STEP_CHILD, step, json.dumps(arguments, default=_as_json)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    if step == "transform":
        assert child.stdout.readline().strip() == "started", child.stderr.read()[-3000:]
    while step != "transform" and len(_step_runs(workspace, step)) == before:
        assert child.poll() is None, child.stderr.read()[-3000:] if child.stderr else ""
        assert time.monotonic() < deadline, f"{step} never started its MLflow run"
        time.sleep(0.2)
    time.sleep(after_s)
    assert child.poll() is None, f"{step} finished before the kill: kill it sooner"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == KILLED
    if step != "transform":
        # The kill landed mid-step: nothing closed the step's run.
        assert _step_runs(workspace, step)[-1] == RunStatus.to_string(RunStatus.RUNNING)


def _transform_arguments(workspace: Workspace) -> dict:
    return dict(
        data_uri=str(workspace.data),
        data_digest=ContentDigest.of_stream(workspace.data.open("rb")),
        dataset="modeldata_taxi",
        expected_spec_fingerprint=spec_fingerprint("modeldata_taxi"),
        beam_runner="DirectRunner",
        beam_options_json="[]",
        transform_graph_dir=workspace.out("transform_graph"),
        examples_dir=workspace.out("examples"),
        eval_data_file=workspace.out("eval.csv"),
    )


@pytest.fixture(scope="module")
def transformed(workspace: Workspace) -> TransformResult:
    """Transform killed mid-run, then rerun into the same paths."""
    arguments = _transform_arguments(workspace)
    _kill_mid_step(workspace, "transform", arguments, after_s=1.0)
    return run_transform_step(**arguments)


def _records(files: list[Path]) -> int:
    return sum(1 for _ in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP"))


def test_transform_killed_then_rerun_writes_each_row_once(workspace: Workspace, transformed: TransformResult) -> None:
    assert transformed.train_rows + transformed.validation_rows + transformed.eval_rows == ROWS
    examples = workspace.out("examples")
    assert _records(sorted(examples.glob(f"{TRAIN}-*"))) == transformed.train_rows
    assert _records(sorted(examples.glob(f"{VALIDATION}-*"))) == transformed.validation_rows
    assert _records(sorted(examples.glob(f"{EVAL}-*"))) == transformed.eval_rows
    assert len(workspace.out("eval.csv").read_text().splitlines()) == transformed.eval_rows + 1


def test_train_killed_then_rerun_exports_a_model_and_push_registers_it_once(
    workspace: Workspace, transformed: TransformResult
) -> None:
    arguments = dict(
        dataset="modeldata_taxi",
        transform_graph_dir=workspace.out("transform_graph"),
        examples_dir=workspace.out("examples"),
        export_dir=workspace.out("model"),
        tracking_uri=workspace.tracking_uri,
        pipeline_run_id=workspace.run_id,
    )
    # A retry runs with the same parameters (MLflow refuses to change a logged param).
    hyperparameters = Hyperparameters(epochs=2, hidden_units=(8,))
    _kill_mid_step(workspace, "train", {**arguments, "hyperparameters": asdict(hyperparameters)}, after_s=1.0)

    result = run_train_step(**arguments, hyperparameters=hyperparameters)

    assert result.epochs_run == 2
    assert _step_runs(workspace, "train")[-1] == RunStatus.to_string(RunStatus.FINISHED)
    pushed = push_model(
        workspace.out("model"), str(workspace.root / "store"), MODEL_NAME, workspace.tracking_uri, workspace.run_id
    )
    assert live_versions(workspace.tracking_uri).keys() == {pushed.model_version} == {"1"}
    assert champion_version(workspace.tracking_uri) == "1"
    assert_champion_served(workspace.tracking_uri, workspace.root / "store")
    assert_registry_sound(workspace.tracking_uri, workspace.root / "check")


def _kill_push(saved_model: Path, store: str, tracking_uri: str, run_id: str, where: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", PUSH_CHILD, str(saved_model), store, MODEL_NAME, tracking_uri, run_id, where],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == KILLED, child.stderr[-3000:]


@pytest.mark.parametrize("where", ["upload", "alias"])
def test_push_killed_then_rerun_leaves_no_orphan(
    where: str, saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    first = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, new_pipeline_run(tmp_mlflow_uri, "none"))
    run = new_pipeline_run(tmp_mlflow_uri, champion_seen_by_gate=first.model_version)

    _kill_push(saved_model, store, tmp_mlflow_uri, run, where)

    assert champion_version(tmp_mlflow_uri) == first.model_version  # readers still see the old champion
    assert_champion_served(tmp_mlflow_uri, tmp_path / "store")  # and TensorFlow Serving serves it
    folders = sorted(path.name for path in (tmp_path / "store" / MODEL_NAME).iterdir() if path.name != "serving")
    assert len(folders) == 2 and folders[0] == first.store_uri.rsplit("/", 1)[1]  # the killed push's leftovers
    if where == "alias":
        states = {version: tags["push_state"] for version, tags in live_versions(tmp_mlflow_uri).items()}
        assert states == {first.model_version: "published", "2": "staged"}

    rerun = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, run)

    # Killed at the alias, the staged version is finished (its files were verified); killed mid-upload, none existed.
    assert rerun.model_version == "2"
    assert rerun.champion and champion_version(tmp_mlflow_uri) == rerun.model_version
    assert_champion_served(tmp_mlflow_uri, tmp_path / "store")
    assert live_versions(tmp_mlflow_uri).keys() == {first.model_version, rerun.model_version}
    folders = {path.name for path in (tmp_path / "store" / MODEL_NAME).iterdir() if path.name != "serving"}
    assert folders == {first.store_uri.rsplit("/", 1)[1], rerun.store_uri.rsplit("/", 1)[1]}
    assert_registry_sound(tmp_mlflow_uri, tmp_path / "check")


def test_a_push_killed_just_after_moving_the_alias_is_kept(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    """The sweep never deletes a version an alias points at: it finished all but its last tag."""
    store = str(tmp_path / "store")
    pushed = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, new_pipeline_run(tmp_mlflow_uri, "none"))
    client = tracking.client(tmp_mlflow_uri)
    client.set_model_version_tag(MODEL_NAME, pushed.model_version, PUSH_STATE_TAG, STAGED)

    with ChampionLock(tmp_mlflow_uri, MODEL_NAME, "another-run") as lock:
        removed = sweep_orphans(client, MODEL_NAME, f"{store}/{MODEL_NAME}/x-y", "another-run", None, lock.epoch)

    assert removed == []
    assert live_versions(tmp_mlflow_uri)[pushed.model_version]["push_state"] == "published"
    assert champion_version(tmp_mlflow_uri) == pushed.model_version
    assert_champion_served(tmp_mlflow_uri, tmp_path / "store")
