"""Training throughput through the real tf.data path against the same model fed from in-memory tensors.

`python -m bench.input_pipeline --work DIR --dataset NAME --result JSON [--batch-size N] [--mixed-precision]`
reads a transform output in DIR (as `python -m bench.stages transform` writes it), parsed once
as the train step parses it (its time reported as `parse_s`). Both runs fit a fresh model of the
pipeline's architecture for `--epochs` epochs without validation, on the same examples and batch
size: "tf.data" is the train step's own input (components.train.input: batches gathered by
shuffled indices), "in-memory" is `model.fit` on the NumPy columns (the bound). The first epoch
(tracing) is reported apart. Runs on the first GPU when TensorFlow sees one, else on the CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft

from bench.measure import write_json
from components.common.specs import get_spec
from components.tasks import task_of
from components.train.builders import build_checked
from components.train.hyperparameters import Hyperparameters
from components.train.input import Split
from components.transform.features import transformed_features
from components.transform.layout import TRAIN


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


def measure(work: Path, dataset: str, epochs: int, mixed_precision: bool, batch_size: int) -> dict[str, Any]:
    spec = get_spec(dataset)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    tft_output = tft.TFTransformOutput(str(work / "transform_graph"))
    task = task_of(spec)
    model_features = transformed_features(spec, tft_output)
    model_inputs = [feature.name for feature in model_features]

    def fresh_model() -> keras.Model:
        keras.utils.set_random_seed(hyperparameters.seed)
        model = build_checked(spec.model_builder, model_features, task, hyperparameters)
        model.compile(keras.optimizers.Adam(hyperparameters.learning_rate), task.loss(), metrics=task.keras_metrics())
        return model

    started = time.perf_counter()
    split = Split.read(work / "examples", TRAIN, tft_output.transformed_feature_spec(), spec.label.name)
    parse_s = time.perf_counter() - started
    # 0 (the default): the batch size and learning rate the train step would choose for these rows.
    hyperparameters = Hyperparameters(batch_size=batch_size).for_rows(len(split.labels))
    batch_size = hyperparameters.batch_size
    train = split.shuffled_batches(model_inputs, batch_size, hyperparameters.seed)
    in_memory = {name: split.features[name] for name in model_inputs}
    examples = len(split.labels)

    runs: dict[str, dict[str, Any]] = {}
    for path, fit in (
        ("tf.data", lambda model, timer: model.fit(train, epochs=epochs, callbacks=[timer], verbose=0)),
        (
            "in-memory",
            lambda model, timer: model.fit(
                in_memory, split.labels, batch_size=batch_size, epochs=epochs, callbacks=[timer], verbose=0
            ),
        ),
    ):
        timer = EpochTimer()
        fit(fresh_model(), timer)
        runs[path] = {
            "first_epoch_examples_per_s": examples / timer.seconds[0],
            "examples_per_s": [examples / seconds for seconds in timer.seconds[1:]],
        }
    return {
        "device": device_name(),
        "mixed_precision": mixed_precision,
        "batch_size": batch_size,
        "examples": examples,
        "parse_s": parse_s,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.input_pipeline", description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=Hyperparameters().batch_size)
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args(argv)
    write_json(args.result, measure(args.work, args.dataset, args.epochs, args.mixed_precision, args.batch_size))


if __name__ == "__main__":
    main()
