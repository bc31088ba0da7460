"""Train the Keras model on tf.Transform output and export a raw-in serving SavedModel.

Uses every visible GPU through MirroredStrategy with mixed precision, and the
CPU otherwise. Early stopping watches the transform's validation split (chosen by
row hash), so the eval split stays untouched for evaluation.

A rerun on the same transformed data gives the same model, bit for bit: the examples
are parsed once and put in a fixed order (sorted by their values, whatever order Beam
wrote them in), the seed is a pipeline parameter, and TensorFlow's ops run deterministically.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import keras
import mlflow
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components.common import tracking
from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec, Numeric
from components.train.model import ServingModule, build_model
from components.transform.features import categorical_cardinalities, transformed_names
from components.transform.layout import TRAIN, TRANSFORMED_FILE_SUFFIX, VALIDATION


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 0.003
    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    early_stopping_patience: int = 3
    seed: int = 0


@dataclass(frozen=True)
class TrainResult:
    device: str
    replicas: int
    mixed_precision: bool
    epochs_run: int
    best_val_auc: float
    best_val_loss: float
    train_seconds: float
    history: dict[str, list[float]] = field(repr=False)


def _strategy() -> tuple[tf.distribute.Strategy, str, bool]:
    """MirroredStrategy with mixed precision on GPUs; the default strategy on the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
        return tf.distribute.MirroredStrategy(), f"{len(gpus)} GPU", True
    keras.mixed_precision.set_global_policy("float32")
    return tf.distribute.get_strategy(), "CPU", False


def _split_in_fixed_order(examples_dir: Path, split: str, feature_spec: dict) -> dict[str, np.ndarray]:
    """The split's examples parsed once, as arrays sorted by their values: the same order on every rerun.

    Not by their serialized bytes: a tf.Example's map of features serializes in an order that differs
    from one process to the next.
    """
    files = sorted(str(path) for path in examples_dir.glob(f"{split}-*{TRANSFORMED_FILE_SUFFIX}"))
    if not files:
        raise FileNotFoundError(f"{examples_dir}: no {split}-*{TRANSFORMED_FILE_SUFFIX} files from the transform step")
    batches = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(65_536)
    parsed: dict[str, list[np.ndarray]] = {name: [] for name in feature_spec}
    for batch in batches.map(lambda records: tf.io.parse_example(records, feature_spec)):
        for name, values in batch.items():
            parsed[name].append(values.numpy())
    columns = {name: np.concatenate(chunks) if chunks else np.array([]) for name, chunks in parsed.items()}
    if not len(next(iter(columns.values()))):
        raise ValueError(f"{examples_dir}: the {split} split is empty; the data has too few rows")
    order = np.lexsort([columns[name] for name in sorted(columns)])
    return {name: values[order] for name, values in columns.items()}


def _datasets(
    examples_dir: Path, tft_output: tft.TFTransformOutput, label: str, batch_size: int, seed: int
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    feature_spec = tft_output.transformed_feature_spec()

    def features_and_label(split: str) -> tf.data.Dataset:
        columns = _split_in_fixed_order(examples_dir, split, feature_spec)
        labels = columns.pop(label)
        return tf.data.Dataset.from_tensor_slices((columns, labels))

    train = (
        features_and_label(TRAIN)
        .shuffle(50_000, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    validation = features_and_label(VALIDATION).batch(batch_size).cache()
    return train, validation.prefetch(tf.data.AUTOTUNE)


def train_model(
    spec: DatasetSpec,
    transform_graph_dir: Path,
    examples_dir: Path,
    export_dir: Path,
    hyperparameters: Hyperparameters,
) -> TrainResult:
    keras.utils.set_random_seed(hyperparameters.seed)
    tf.config.experimental.enable_op_determinism()
    tft_output = tft.TFTransformOutput(str(transform_graph_dir))
    numeric = [transformed_names(f)[0] for f in spec.features if isinstance(f, Numeric)]
    cardinalities = categorical_cardinalities(spec, tft_output)
    strategy, device, mixed_precision = _strategy()
    with strategy.scope():
        model = build_model(
            numeric,
            cardinalities,
            hyperparameters.hidden_units,
            hyperparameters.dropout,
            hyperparameters.learning_rate,
        )
    train, validation = _datasets(
        examples_dir, tft_output, spec.label.name, hyperparameters.batch_size, hyperparameters.seed
    )
    stop_early = keras.callbacks.EarlyStopping(
        monitor="val_auc", mode="max", patience=hyperparameters.early_stopping_patience, restore_best_weights=True
    )
    started = time.perf_counter()
    history = model.fit(
        train, validation_data=validation, epochs=hyperparameters.epochs, callbacks=[stop_early], verbose=2
    )
    train_seconds = time.perf_counter() - started
    ServingModule(model, [*numeric, *cardinalities], tft_output, spec).export(str(export_dir))
    best = max(range(len(history.history["val_auc"])), key=history.history["val_auc"].__getitem__)
    return TrainResult(
        device=device,
        replicas=strategy.num_replicas_in_sync,
        mixed_precision=mixed_precision,
        epochs_run=len(history.history["loss"]),
        best_val_auc=float(history.history["val_auc"][best]),
        best_val_loss=float(history.history["val_loss"][best]),
        train_seconds=train_seconds,
        history={key: [float(value) for value in values] for key, values in history.history.items()},
    )


def run_train_step(
    dataset: str,
    transform_graph_dir: Path,
    examples_dir: Path,
    export_dir: Path,
    hyperparameters: Hyperparameters,
    tracking_uri: str,
    pipeline_run_id: str,
    transform_outputs: Mapping[str, object] | None = None,
) -> TrainResult:
    """The pipeline step: train inside its MLflow run; log hyperparameters, curves and the model.

    `transform_outputs` (the transform's artifact metadata: rows per split, runner, data digest) is
    recorded first as the pipeline run's `transform` step: transform is cached, so it cannot log itself.
    """
    spec = get_spec(dataset)
    if transform_outputs is not None:
        tracking.record_step(tracking_uri, pipeline_run_id, "transform", transform_outputs)
    with tracking.step_run(tracking_uri, pipeline_run_id, "train"):
        mlflow.log_params({key: str(value) for key, value in asdict(hyperparameters).items()})
        tracking.log_pipeline_params(tracking_uri, pipeline_run_id, "train", asdict(hyperparameters))
        result = train_model(spec, transform_graph_dir, examples_dir, export_dir, hyperparameters)
        for epoch in range(result.epochs_run):
            mlflow.log_metrics({key: values[epoch] for key, values in result.history.items()}, step=epoch)
        mlflow.log_params(
            {"device": result.device, "replicas": result.replicas, "mixed_precision": result.mixed_precision}
        )
        mlflow.log_metrics(
            {
                "best_val_auc": result.best_val_auc,
                "best_val_loss": result.best_val_loss,
                "train_seconds": result.train_seconds,
            }
        )
        mlflow.log_artifacts(str(export_dir), artifact_path="model")
        mlflow.log_text(
            json.dumps({k: v for k, v in asdict(result).items() if k != "history"}, indent=2), "train/result.json"
        )
    return result
