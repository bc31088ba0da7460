"""The learning-rate schedule: Adam's rate after some steps is the schedule's, and a bad name is refused."""

import math

import keras
import numpy as np
import pytest

from components.train.hyperparameters import Hyperparameters, with_values
from components.train.schedule import optimizer_for, planned_steps

# 1,000 rows in batches of 100: 10 steps an epoch, 4 epochs planned.
CHOSEN = Hyperparameters(epochs=4, batch_size=100, learning_rate=0.01)
ROWS = 1_000


def _rate_after(hyperparameters: Hyperparameters, steps: int) -> float:
    """The optimizer's rate once it has applied `steps` updates to one weight."""
    optimizer = optimizer_for(hyperparameters, ROWS)
    weight = keras.Variable(np.ones(3, dtype="float32"))
    for _ in range(steps):
        optimizer.apply([keras.ops.ones(3)], [weight])
    assert int(optimizer.iterations) == steps
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def test_the_planned_steps_are_the_epochs_of_batches_rounded_up():
    assert planned_steps(CHOSEN, ROWS) == 40
    assert planned_steps(CHOSEN, ROWS + 1) == 44


def test_constant_keeps_the_rate():
    assert _rate_after(CHOSEN, 0) == pytest.approx(0.01)
    assert _rate_after(CHOSEN, 25) == pytest.approx(0.01)


@pytest.mark.parametrize("steps", [0, 10, 20, 30, 40])
def test_cosine_falls_along_a_half_cosine_to_zero_over_the_planned_steps(steps):
    cosine = Hyperparameters(epochs=4, batch_size=100, learning_rate=0.01, lr_schedule="cosine")
    expected = 0.01 * 0.5 * (1 + math.cos(math.pi * steps / 40))
    assert _rate_after(cosine, steps) == pytest.approx(expected, abs=1e-7)


def test_an_unknown_schedule_is_refused_by_name():
    with pytest.raises(ValueError, match=r"lr_schedule 'linear': expected one of \['constant', 'cosine'\]"):
        Hyperparameters(lr_schedule="linear")


def test_a_trial_keeps_the_runs_schedule():
    base = Hyperparameters(lr_schedule="cosine")
    assert with_values(base, {"learning_rate": 0.001}).lr_schedule == "cosine"
