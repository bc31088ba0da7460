"""The optimizer a run trains with: Adam at the run's learning rate, under its `lr_schedule`."""

from __future__ import annotations

import math

import keras

from components.train.hyperparameters import Hyperparameters


def planned_steps(hyperparameters: Hyperparameters, train_rows: int) -> int:
    """The steps of the whole run if early stopping never stops it: `epochs` epochs of `train_rows`
    (all workers' rows: the batch is global) in batches of `batch_size`."""
    return max(hyperparameters.epochs * math.ceil(train_rows / hyperparameters.batch_size), 1)


def optimizer_for(hyperparameters: Hyperparameters, train_rows: int) -> keras.optimizers.Optimizer:
    """Adam; under "cosine" its rate falls from `learning_rate` to 0 along a half cosine over the planned steps.
    `hyperparameters` are those chosen for the data (`for_rows`): batch size and rate set."""
    rate: float | keras.optimizers.schedules.LearningRateSchedule = hyperparameters.learning_rate
    if hyperparameters.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=planned_steps(hyperparameters, train_rows))
    return keras.optimizers.Adam(rate)
