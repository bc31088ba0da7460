"""Training throughput through the real tf.data path against the same model fed from in-memory tensors.

`python -m bench.input_pipeline --work DIR --dataset NAME --result JSON [--mixed-precision]`
reads a transform output in DIR (as `python -m bench.stages transform` writes it). Both
runs fit a fresh model of the pipeline's architecture for `--epochs` epochs without
validation; the first epoch (tracing, and the real path's cache fill) is reported apart.
A third run measures a proposed change to the real path: parse before the cache, so that
later epochs skip `tf.io.parse_example` (same examples, same shuffle order).
Runs on the first GPU when TensorFlow sees one, else on the CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from bench.measure import write_json
from components.common.specs import get_spec
from components.tasks import task_of
from components.train.builders import build_checked
from components.train.hyperparameters import Hyperparameters
from components.train.task import Split
from components.transform.features import transformed_features
from components.transform.layout import TRAIN, TRANSFORMED_FILE_SUFFIX


def parsed_then_cached(
    examples_dir: Path, tft_output: tft.TFTransformOutput, label: str, batch_size: int, seed: int
) -> tf.data.Dataset:
    """Training input parsed record by record and cached, against the train step's parse-once arrays."""
    files = sorted(str(path) for path in examples_dir.glob(f"{TRAIN}-*{TRANSFORMED_FILE_SUFFIX}"))
    feature_spec = tft_output.transformed_feature_spec()
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    parsed = records.batch(4096).map(lambda batch: tf.io.parse_example(batch, feature_spec)).unbatch().cache()

    def split(features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        features = dict(features)
        return features, features.pop(label)

    return (
        parsed.shuffle(50_000, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(split, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


def device_name() -> str:
    """The GPU's name as TensorFlow reports it, or "CPU"."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    return str(tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name))


def measure(work: Path, dataset: str, epochs: int, mixed_precision: bool) -> dict[str, Any]:
    spec = get_spec(dataset)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    hyperparameters = Hyperparameters()
    tft_output = tft.TFTransformOutput(str(work / "transform_graph"))
    task = task_of(spec)
    model_features = transformed_features(spec, tft_output)

    def fresh_model() -> keras.Model:
        keras.utils.set_random_seed(hyperparameters.seed)
        model = build_checked(spec.model_builder, model_features, task, hyperparameters)
        model.compile(keras.optimizers.Adam(hyperparameters.learning_rate), task.loss(), metrics=task.keras_metrics())
        return model

    split = Split.read(work / "examples", TRAIN, tft_output.transformed_feature_spec(), spec.label.name)
    train = (
        split.dataset([feature.name for feature in model_features])
        .shuffle(50_000, seed=0, reshuffle_each_iteration=True)
        .batch(hyperparameters.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    proposed = parsed_then_cached(work / "examples", tft_output, spec.label.name, hyperparameters.batch_size, 0)
    features: dict[str, list[np.ndarray]] = {}
    labels: list[np.ndarray] = []
    for batch_features, batch_labels in train:
        for name, values in batch_features.items():
            features.setdefault(name, []).append(values.numpy())
        labels.append(batch_labels.numpy())
    in_memory = {name: np.concatenate(parts) for name, parts in features.items()}
    label_array = np.concatenate(labels)
    examples = len(label_array)

    runs: dict[str, dict[str, Any]] = {}
    for path, fit in (
        ("tf.data", lambda model, timer: model.fit(train, epochs=epochs, callbacks=[timer], verbose=0)),
        (
            "tf.data, parsed before cache",
            lambda model, timer: model.fit(proposed, epochs=epochs, callbacks=[timer], verbose=0),
        ),
        (
            "in-memory",
            lambda model, timer: model.fit(
                in_memory,
                label_array,
                batch_size=hyperparameters.batch_size,
                epochs=epochs,
                callbacks=[timer],
                verbose=0,
            ),
        ),
    ):
        timer = EpochTimer()
        fit(fresh_model(), timer)
        runs[path] = {
            "first_epoch_examples_per_s": examples / timer.seconds[0],
            "examples_per_s": [examples / seconds for seconds in timer.seconds[1:]],
        }
    return {"device": device_name(), "mixed_precision": mixed_precision, "examples": examples, "runs": runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.input_pipeline", description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args(argv)
    write_json(args.result, measure(args.work, args.dataset, args.epochs, args.mixed_precision))


if __name__ == "__main__":
    main()
