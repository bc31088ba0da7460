"""A small convolutional network, the built-in for image features: each image through its convolutional
tower (`convolution.conv_tower`), other features as the MLP takes them, concatenated, then ReLU layers of
`hidden_units` with dropout before each, then the task's head. Without an image feature it is an MLP."""

from __future__ import annotations

from typing import Sequence

import keras

from components.common.feature_info import TransformedFeature
from components.tasks import Task
from components.train.builders.layers import dense_parts, model_inputs
from components.train.hyperparameters import Hyperparameters


def build(features: Sequence[TransformedFeature], task: Task, hyperparameters: Hyperparameters) -> keras.Model:
    inputs = model_inputs(features)
    parts = dense_parts(features, inputs)
    hidden = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    for units in hyperparameters.hidden_units:
        hidden = keras.layers.Dropout(hyperparameters.dropout)(hidden)
        hidden = keras.layers.Dense(units, activation="relu")(hidden)
    hidden = keras.layers.Dropout(hyperparameters.dropout)(hidden)
    return keras.Model(inputs, task.output_layer()(hidden), name="cnn")
