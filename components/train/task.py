"""Train the builder's Keras model on tf.Transform output and export a raw-in serving SavedModel.

The model comes from the spec's builder (or the run's `model_builder`), checked against the task
before any training; the task (components.tasks) gives its loss, metrics and what early stopping
watches. Uses every visible GPU through MirroredStrategy with mixed precision, and the
CPU otherwise. Early stopping watches the transform's validation split (chosen by
row hash), so the eval split stays untouched for evaluation.

A rerun on the same transformed data gives the same model, bit for bit: the examples
are parsed once and put in a fixed order (components.train.input), the batches are drawn
from the seed, a pipeline parameter, and TensorFlow's ops run deterministically.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import DatasetSpec
from components.tasks import Task, task_of
from components.train.builders import build_checked
from components.train.builders.convolution import save_towers
from components.train.hyperparameters import Hyperparameters
from components.train.input import Split
from components.train.model import ServingModule, scaled
from components.train.multiworker import fit_among_workers
from components.train.roles import WorkerRole, worker_role
from components.train.schedule import optimizer_for
from components.train.warm_start import (
    Champion,
    build_record,
    carried_widths,
    initialise,
    with_widths,
    write_build_record,
)
from components.transform.features import transformed_features
from components.transform.layout import TRAIN, VALIDATION

__all__ = ["Hyperparameters", "TrainResult", "train_model"]


@dataclass(frozen=True)
class TrainResult:
    """`early_stopping_metric` is the validation metric early stopping watched (the task's), and
    `best_val_metric` its best value; the weights kept are that epoch's. `batch_size` and
    `learning_rate` are the ones used (chosen for the data where the run left them at 0)."""

    device: str
    replicas: int
    mixed_precision: bool
    model_builder: str
    epochs_run: int
    early_stopping_metric: str
    best_val_metric: float
    best_val_loss: float
    train_seconds: float
    batch_size: int
    learning_rate: float
    history: dict[str, list[float]] = field(repr=False)
    # The champion version training started from ("": from scratch), and the line saying how or why not.
    warm_started_from: str = ""
    warm_start_note: str = ""


def _strategy(role: WorkerRole) -> tuple[tf.distribute.Strategy, str, bool]:
    """MirroredStrategy with mixed precision on GPUs; the default strategy on the CPU. Among several
    workers, MultiWorkerMirroredStrategy (NCCL all-reduce between GPUs, gRPC ring between CPUs).

    Called before any TensorFlow op runs: collective ops can be configured only at start-up.
    """
    gpus = tf.config.list_physical_devices("GPU")
    keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "float32")
    local = f"{len(gpus)} GPU" if gpus else "CPU"
    if role.count > 1:
        implementation = tf.distribute.experimental.CommunicationImplementation
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=implementation.NCCL if gpus else implementation.RING
        )
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        return strategy, f"{role.count} workers x {local}", bool(gpus)
    if gpus:
        return tf.distribute.MirroredStrategy(), local, True
    return tf.distribute.get_strategy(), local, False


def _build_model(
    builder: str,
    task: Task,
    features: Sequence[TransformedFeature],
    hyperparameters: Hyperparameters,
    train_labels: np.ndarray,
) -> keras.Model:
    """The builder's model, checked; with the task's output scale after it; compiled with the task's loss."""
    model = build_checked(builder, features, task, hyperparameters)
    output_scale = task.output_scale(train_labels)
    if output_scale is not None:
        model = scaled(model, *output_scale)
    model.compile(
        optimizer=optimizer_for(hyperparameters, len(train_labels)),
        loss=task.loss(),
        metrics=task.keras_metrics(),
    )
    return model


def _all_labels(strategy: tf.distribute.Strategy, labels: np.ndarray, role: WorkerRole) -> np.ndarray:
    """Every worker's training labels, gathered: what the task's output scale is computed from must be
    the same on all workers, or their models would differ. Each worker's first replica contributes."""
    if role.count == 1:
        return labels
    local_replicas = strategy.num_replicas_in_sync // role.count

    def shard(context: tf.distribute.experimental.ValueContext) -> tf.Tensor:
        first = context.replica_id_in_sync_group % local_replicas == 0
        return tf.constant(labels if first else labels[:0])

    gathered = strategy.gather(strategy.experimental_distribute_values_from_function(shard), axis=0)
    return gathered.numpy()


def _export(module: ServingModule, export_dir: Path, role: WorkerRole) -> None:
    """The chief exports; the other workers save too (saving may read distributed variables through
    collective ops, which need every worker), to a scratch folder beside it, and delete it."""
    if role.is_chief:
        module.export(str(export_dir))
        return
    scratch = export_dir.parent / f".{export_dir.name}.worker-{role.index}"
    module.export(str(scratch))
    shutil.rmtree(scratch)


def train_model(
    spec: DatasetSpec,
    transform_graph_dir: Path,
    examples_dir: Path,
    export_dir: Path,
    hyperparameters: Hyperparameters,
    model_builder: str = "",
    backup_dir: Path | None = None,
    champion: Champion | str = "warm_start is 'none'",
) -> TrainResult:
    """Train and export; `model_builder` (a name or `package.module:function`) overrides the spec's.

    Under a TF_CONFIG naming several workers (components.train.workers), each worker trains on its
    shard, `batch_size` is the global batch, and only the chief keeps an export. With `backup_dir`,
    each worker checkpoints there every epoch (a subfolder each) and a restarted one resumes from it;
    the history then holds the epochs run since. `champion` is the model to start from
    (components.train.warm_start), or why training starts from scratch.
    """
    role = worker_role()
    # Seeds first (a rerun of one worker is bit for bit the same only so), then the strategy, before any op.
    keras.utils.set_random_seed(hyperparameters.seed)
    tf.config.experimental.enable_op_determinism()
    strategy, device, mixed_precision = _strategy(role)
    builder = model_builder or spec.model_builder
    task = task_of(spec)
    tft_output = tft.TFTransformOutput(str(transform_graph_dir))
    feature_spec = tft_output.transformed_feature_spec()
    train_split = Split.read(examples_dir, TRAIN, feature_spec, spec.label.name, role)
    validation_split = Split.read(examples_dir, VALIDATION, feature_spec, spec.label.name, role)
    features = transformed_features(spec, tft_output)
    model_inputs = [feature.name for feature in features]
    with strategy.scope():
        train_labels = _all_labels(strategy, train_split.labels, role)
        hyperparameters = hyperparameters.for_rows(len(train_labels))
        record = build_record(builder, task, features, spec)
        model = _build_model(builder, task, carried_widths(champion, record, features), hyperparameters, train_labels)
        record = with_widths(record, model)
        started_from = initialise(model, champion, record, tft_output)
    print(started_from.line, flush=True)
    train = train_split.shuffled_batches(model_inputs, hyperparameters.batch_size, hyperparameters.seed)
    validation = validation_split.batches(model_inputs, hyperparameters.batch_size)
    monitor = task.early_stopping_monitor
    stop_early = keras.callbacks.EarlyStopping(
        monitor=monitor,
        mode="max" if task.early_stopping_maximise else "min",
        patience=hyperparameters.early_stopping_patience,
        restore_best_weights=True,
    )
    callbacks: list[keras.callbacks.Callback] = [stop_early]
    if backup_dir is not None:
        callbacks.insert(0, keras.callbacks.BackupAndRestore(str(backup_dir / f"worker-{role.index}")))
    started = time.perf_counter()
    if role.count > 1:
        history = fit_among_workers(
            strategy, model, task, train, validation, hyperparameters.epochs, hyperparameters.batch_size, callbacks
        )
    else:
        history = model.fit(
            train, validation_data=validation, epochs=hyperparameters.epochs, callbacks=callbacks, verbose=2
        ).history
    train_seconds = time.perf_counter() - started
    _export(ServingModule(model, model_inputs, tft_output, spec, task), export_dir, role)
    if role.is_chief:
        write_build_record(export_dir, record)
        save_towers(model, features, export_dir)  # a later spec's Image.weights_uri may name them
    curve = history[monitor]
    pick = max if task.early_stopping_maximise else min
    best = pick(range(len(curve)), key=curve.__getitem__)
    return TrainResult(
        device=device,
        replicas=strategy.num_replicas_in_sync,
        mixed_precision=mixed_precision,
        model_builder=builder,
        epochs_run=len(history["loss"]),
        early_stopping_metric=monitor,
        best_val_metric=float(curve[best]),
        best_val_loss=float(history["val_loss"][best]),
        train_seconds=train_seconds,
        batch_size=hyperparameters.batch_size,
        learning_rate=hyperparameters.learning_rate,
        history={key: [float(value) for value in values] for key, values in history.items()},
        warm_started_from=started_from.version or "",
        warm_start_note=started_from.line,
    )
