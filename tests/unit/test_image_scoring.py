"""Scoring images (issue 27): a tiny digits cnn, trained by the real train step into a real SQLite MLflow
store and pushed as champion, scores an index of held-out PNGs with the score step's own code; each
image's prediction equals the pyfunc's in process on the same bytes. The export's tower weights, as a
later spec's `Image.weights_uri` names them in the model store, start a new tower where this one ended."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from components.common import tracking
from components.common.specs import get_spec
from components.data.baseline import log_training_baseline
from components.push.task import push_model
from components.score.output import read_scores
from components.score.task import run_score_step
from components.tasks import task_of
from components.train.builders import build_checked
from components.train.builders.convolution import TOWERS_DIR
from components.train.hyperparameters import Hyperparameters
from components.train.step import run_train_step
from components.transform.roles.image import ImageTransform
from components.transform.task import run_transform
from pipelines.images import DIGITS_LEVELS, png_bytes

pytestmark = pytest.mark.slow

DIGITS = get_spec("digits")
MODEL = "digits-scoring"
TRAIN_ROWS, SCORED_ROWS = 200, 12


@dataclass(frozen=True)
class Trained:
    root: Path
    tracking_uri: str
    export_dir: Path
    store_uri: str


def _write_index(folder: Path, numbers: range, name: str) -> Path:
    """Digits `numbers` as PNG files under `folder`/img and an index naming them relative to it."""
    digits = load_digits()
    (folder / "img").mkdir(parents=True, exist_ok=True)
    lines = ["image,digit"]
    for number in numbers:
        pixels = np.round(digits.images[number] * 255.0 / DIGITS_LEVELS).astype(np.uint8)
        (folder / "img" / f"{number:04d}.png").write_bytes(png_bytes(pixels))
        lines.append(f"img/{number:04d}.png,{digits.target[number]}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, _empty_mlflow_db: Path) -> Trained:
    root = tmp_path_factory.mktemp("image-scoring")
    shutil.copyfile(_empty_mlflow_db, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    data = _write_index(root, range(TRAIN_ROWS), "train.csv")
    run_id = tracking.start_pipeline_run(uri, "digits-training", "job-image-scoring", {})
    log_training_baseline(data, DIGITS, str(data), uri, run_id)
    run_transform(str(data), DIGITS, root / "graph", root / "examples", root / "eval.csv")
    hyperparameters = Hyperparameters(epochs=3, batch_size=32, hidden_units=(16,), learning_rate=0.003)
    run_train_step("digits", root / "graph", root / "examples", root / "model", hyperparameters, uri, run_id)
    pushed = push_model(root / "model", str(root / "store"), MODEL, uri, run_id, force_push=True)  # no gate
    return Trained(root, uri, root / "model", pushed.store_uri)


def test_the_score_step_gives_each_image_the_pyfunc_prediction_in_process(trained: Trained) -> None:
    numbers = range(1700, 1700 + SCORED_ROWS)
    held_out = _write_index(trained.root / "new", numbers, "new.csv")
    with held_out.open("a") as index:
        index.write("img/gone.png,3\n")  # row 12: refused with its reason, the others scored
    reports = trained.root / "reports"
    result = run_score_step(
        str(held_out), "digits", MODEL, "", str(trained.root / "scores"), trained.tracking_uri, "", "score-digits",
        reports / "validation.html", reports / "validation.json", max_reject_fraction=0.1,
    )  # fmt: skip
    assert result.rows_scored == SCORED_ROWS and result.rows_rejected == 1
    predictions, rejects = read_scores(result.output_prefix)
    gone = held_out.parent / "img" / "gone.png"
    assert rejects["row_number"].tolist() == [SCORED_ROWS]
    assert rejects["reason"].tolist() == [f"column 'image': image {gone} cannot be read: No such file or directory"]
    predictions = predictions.sort_values("row_number").reset_index(drop=True)
    files = [held_out.parent / "img" / f"{number:04d}.png" for number in numbers]
    assert predictions["image"].tolist() == [str(file) for file in files]  # the output names each image
    in_process = mlflow.pyfunc.load_model(str(trained.export_dir)).predict(
        pd.DataFrame({"image": [file.read_bytes() for file in files]})
    )
    assert len(in_process.columns) and set(in_process.columns) <= set(predictions.columns), list(in_process.columns)
    for name in in_process.columns:
        np.testing.assert_array_equal(np.stack(predictions[name]), np.stack(in_process[name]), err_msg=name)


def test_the_export_keeps_the_tower_a_later_spec_can_start_from(trained: Trained) -> None:
    towers = trained.export_dir / TOWERS_DIR / "image_pixels.weights.h5"
    assert towers.is_file()
    named = f"{trained.store_uri}/{TOWERS_DIR}/image_pixels.weights.h5"  # as pushed to the model store
    spec = replace(DIGITS, features=(replace(DIGITS.features[0], weights_uri=named),))
    (feature,) = ImageTransform().describe(spec.features[0], None)
    assert feature.weights_uri == named
    model = build_checked("cnn", [feature], task_of(spec), Hyperparameters(hidden_units=(16,)))
    checkpoint = tf.train.load_checkpoint(str(trained.export_dir / "variables" / "variables"))
    served = [np.asarray(checkpoint.get_tensor(key)) for key in checkpoint.get_variable_to_shape_map()]
    started = [
        weights for layer in model.layers if isinstance(layer, keras.layers.Conv2D) for weights in layer.get_weights()
    ]
    assert len(started) == 4  # two convolutions' kernels and biases
    for weights in started:  # each is the served model's trained variable, not a fresh initialisation
        assert any(value.shape == weights.shape and np.array_equal(value, weights) for value in served)
