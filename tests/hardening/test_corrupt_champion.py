"""A champion whose stored files no longer match their checksums fails the gate loudly, naming version and file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import tensorflow as tf
from hardening_helpers import MODEL_NAME, new_pipeline_run
from mlflow.entities import RunStatus

from components.common import storage, tracking
from components.common.specs import get_spec
from components.evaluate.task import CorruptChampionError, EvaluationResult, GateSettings, run_evaluate_step
from components.push.task import push_model
from components.train.mlflow_model import make_mlflow_model, saved_model_inputs

pytestmark = pytest.mark.hardening

SPEC = get_spec("modeldata_taxi")
ANYTHING_PASSES = {"roc_auc": 0.0, "accuracy": 0.0, "log_loss": 100.0}


class DistanceModel(tf.Module):
    """A raw-in serving model like the trainer's exports: longer trips tip more."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = tf.Variable(0.2, dtype=tf.float64)

    @tf.function(input_signature=[{"distance": tf.TensorSpec([None], tf.float64, name="distance")}])
    def serve(self, dense: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {"probability": tf.cast(tf.sigmoid(self.weight * (dense["distance"] - 3.0)), tf.float32)}


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    module = DistanceModel()
    path = tmp_path_factory.mktemp("candidate") / "model"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    make_mlflow_model(path, saved_model_inputs(path), None)  # push publishes MLflow models, as train exports them
    return path


@pytest.fixture(scope="module")
def eval_csv(tmp_path_factory: pytest.TempPathFactory, bundled_dataset: Path) -> Path:
    path = tmp_path_factory.mktemp("eval") / "eval.csv"
    path.write_text("".join(bundled_dataset.read_text().splitlines(keepends=True)[:301]))
    return path


def _evaluate(candidate: Path, eval_csv: Path, tracking_uri: str, run_id: str, out: Path) -> EvaluationResult:
    return run_evaluate_step(
        candidate, eval_csv, "modeldata_taxi", tracking_uri, run_id, MODEL_NAME, GateSettings(ANYTHING_PASSES), out
    )


@pytest.fixture
def champion_dir(candidate: Path, tmp_mlflow_uri: str, tmp_path: Path) -> Path:
    """The candidate pushed as champion version 1; returns its folder in the local store."""
    pushed = push_model(
        candidate, str(tmp_path / "store"), MODEL_NAME, tmp_mlflow_uri, new_pipeline_run(tmp_mlflow_uri, "none")
    )
    return Path(pushed.store_uri.removeprefix("file://"))


def test_an_intact_champion_is_scored(
    candidate: Path, eval_csv: Path, champion_dir: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    result = _evaluate(candidate, eval_csv, tmp_mlflow_uri, new_pipeline_run(tmp_mlflow_uri), tmp_path / "out")
    assert result.champion_version == "1" and result.champion_metrics == result.metrics


def test_a_changed_file_fails_the_gate_naming_version_and_file(
    candidate: Path, eval_csv: Path, champion_dir: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    variables = champion_dir / "variables" / "variables.data-00000-of-00001"
    corrupted = bytearray(variables.read_bytes())
    corrupted[-1] ^= 0xFF
    variables.write_bytes(bytes(corrupted))
    run = new_pipeline_run(tmp_mlflow_uri)

    with pytest.raises(CorruptChampionError) as failure:
        _evaluate(candidate, eval_csv, tmp_mlflow_uri, run, tmp_path / "out")

    message = str(failure.value)
    assert f"champion '{MODEL_NAME}' version 1" in message
    assert "variables/variables.data-00000-of-00001: sha256 differs from the manifest" in message
    assert isinstance(failure.value.__cause__, storage.ChecksumMismatchError)
    pipeline_run = tracking.client(tmp_mlflow_uri).get_run(run)
    assert pipeline_run.info.status == RunStatus.to_string(RunStatus.FAILED)
    assert "version 1" in pipeline_run.data.tags[tracking.ERROR_TAG]


def test_a_rewritten_manifest_is_caught_by_the_registry_digest(
    candidate: Path, eval_csv: Path, champion_dir: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    """Someone replaced a file and its manifest line consistently: the registry's digest still differs."""
    pb = champion_dir / "saved_model.pb"
    pb.write_bytes(pb.read_bytes() + b"\0")
    manifest = champion_dir / storage.MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    fixed = [
        f"{hashlib.sha256(pb.read_bytes()).hexdigest()}  saved_model.pb" if "saved_model.pb" in line else line
        for line in lines
    ]
    manifest.write_text("\n".join(fixed) + "\n")

    with pytest.raises(
        CorruptChampionError, match=rf"version 1: .*/{storage.MANIFEST_NAME}: sha256 \w+, the registry recorded"
    ):
        _evaluate(candidate, eval_csv, tmp_mlflow_uri, new_pipeline_run(tmp_mlflow_uri), tmp_path / "out")
