"""The training loop among several workers (MultiWorkerMirroredStrategy).

Keras 3.15's `fit` cannot drive MultiWorkerMirroredStrategy (keras-team/keras#20585): it reduces each
step's scalar metrics along an axis they do not have, and its first batch of named inputs through a
call that takes no structures. So the workers run this loop instead, built from public pieces: the
compiled model and optimizer, the task's loss and metrics, and Keras's own callbacks (early stopping,
backup and restore, history) driven epoch by epoch as `fit` would drive them.

Metrics are Keras metrics, whose variables sum over replicas when read outside a replica: every
worker reads the same global values, so every worker's early stopping takes the same decision (a
worker that stopped alone would leave the others waiting on it forever).
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from components.tasks import Task


def fit_among_workers(
    strategy: tf.distribute.Strategy,
    model: keras.Model,
    task: Task,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    epochs: int,
    global_batch: int,
    callbacks: Sequence[keras.callbacks.Callback],
) -> dict[str, list[float]]:
    """Train `model` (compiled, built under `strategy`) for up to `epochs`; returns the history as `fit` does.

    `train` and `validation` are this worker's shards, batched by `global_batch`: tf.distribute splits
    each batch over this worker's replicas, and the loss is averaged over the global batch.
    """
    optimizer = model.optimizer
    loss_object = task.loss()
    with strategy.scope():
        optimizer.build(model.trainable_variables)
        train_metrics = [keras.metrics.Mean(name="loss"), *task.keras_metrics()]
        validation_metrics = [keras.metrics.Mean(name="loss"), *task.keras_metrics()]

    def update(metrics: list[keras.metrics.Metric], labels: tf.Tensor, predictions: tf.Tensor, loss: tf.Tensor):
        rows = tf.cast(tf.shape(labels)[0], tf.float32)
        metrics[0].update_state(loss, sample_weight=rows)
        for metric in metrics[1:]:
            metric.update_state(labels, predictions)

    def mean_loss(labels: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
        """The mean loss over this replica's rows (0 when a shard ran out and its batch is empty).

        A Keras loss called in a replica divides by the number of replicas (for `fit`): undone here.
        """
        rows, replicas = tf.shape(labels)[0], float(strategy.num_replicas_in_sync)
        loss = tf.cond(
            rows > 0, lambda: tf.cast(loss_object(labels, predictions), tf.float32) * replicas, lambda: tf.constant(0.0)
        )
        return tf.reshape(loss, [])  # a scalar, also when the batch's shape is unknown (a shard's last steps)

    def train_step(features: dict[str, tf.Tensor], labels: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            predictions = model(features, training=True)
            loss = mean_loss(labels, predictions)
            # Gradients are summed over replicas: weigh this replica's mean by its share of the global batch.
            share = tf.cast(tf.shape(labels)[0], tf.float32) / global_batch
            scaled = optimizer.scale_loss(loss * share)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        update(train_metrics, labels, predictions, loss)

    def validation_step(features: dict[str, tf.Tensor], labels: tf.Tensor) -> None:
        predictions = model(features, training=False)
        update(validation_metrics, labels, predictions, mean_loss(labels, predictions))

    @tf.function
    def run_train(batch):
        strategy.run(train_step, args=batch)

    @tf.function
    def run_validation(batch):
        strategy.run(validation_step, args=batch)

    callback_list = keras.callbacks.CallbackList(list(callbacks), add_history=True, model=model)
    model.stop_training = False
    callback_list.on_train_begin()
    # BackupAndRestore sets the epoch to resume from, as `fit` reads it.
    first_epoch = getattr(model, "_initial_epoch", None) or 0
    distributed_train = strategy.experimental_distribute_dataset(train)
    distributed_validation = strategy.experimental_distribute_dataset(validation)
    for epoch in range(first_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        for metric in (*train_metrics, *validation_metrics):
            metric.reset_state()
        for batch in distributed_train:
            run_train(batch)
        for batch in distributed_validation:
            run_validation(batch)
        logs = {metric.name: float(metric.result()) for metric in train_metrics}
        logs.update({f"val_{metric.name}": float(metric.result()) for metric in validation_metrics})
        print(f"epoch {epoch + 1}/{epochs}: " + " ".join(f"{name}={value:.4f}" for name, value in logs.items()))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return model.history.history
