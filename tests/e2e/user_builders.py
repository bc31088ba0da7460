"""A model builder as a user writes one, outside the project: `user_builders:residual_tower`.

The e2e test puts this folder on PYTHONPATH, as a user's trainer image would have their package installed.
"""

from __future__ import annotations

from typing import Sequence

import keras

from components.common.feature_info import TransformedFeature
from components.tasks import Task
from components.train.hyperparameters import Hyperparameters

BUILT = "residual_tower"


def residual_tower(features: Sequence[TransformedFeature], task: Task, hyperparameters: Hyperparameters) -> keras.Model:
    """Numbers and one-hot ids through one residual block: nothing the built-in builders do."""
    inputs = {f.name: keras.Input(shape=f.shape, name=f.name, dtype=f.dtype) for f in features}
    parts = [
        keras.layers.Reshape((f.length or 1,))(inputs[f.name])
        if f.kind == "numeric"
        else keras.layers.CategoryEncoding(int(f.vocabulary_size or 0), output_mode="one_hot")(inputs[f.name])
        for f in features
    ]
    joined = keras.layers.Concatenate()(parts)
    hidden = keras.layers.Dense(32, activation="relu")(joined)
    hidden = keras.layers.Add()([hidden, keras.layers.Dense(32, activation="relu")(hidden)])
    return keras.Model(inputs, task.output_layer()(hidden), name=BUILT)
