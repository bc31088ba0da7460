"""A small convolutional network for image features (see `convolution.conv_tower`): each image through
its tower, other features as the MLP takes them, concatenated, then ReLU layers of `hidden_units` with
dropout, then the task's head. A spec without an image feature is refused: use `mlp` or `wide_and_deep`."""

from __future__ import annotations

from typing import Sequence

import keras

from components.common.feature_info import TransformedFeature
from components.tasks import Task
from components.train.builders import BuilderError
from components.train.builders.layers import dense_parts, model_inputs
from components.train.hyperparameters import Hyperparameters


def build(features: Sequence[TransformedFeature], task: Task, hyperparameters: Hyperparameters) -> keras.Model:
    if not any(feature.kind == "image" for feature in features):
        named = [f"{feature.name} ({feature.kind})" for feature in features]
        raise BuilderError(f"model builder 'cnn' needs an image feature; the features are {named}")
    inputs = model_inputs(features)
    parts = dense_parts(features, inputs)
    hidden = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    for units in hyperparameters.hidden_units:
        hidden = keras.layers.Dropout(hyperparameters.dropout)(hidden)
        hidden = keras.layers.Dense(units, activation="relu")(hidden)
    hidden = keras.layers.Dropout(hyperparameters.dropout)(hidden)
    return keras.Model(inputs, task.output_layer()(hidden), name="cnn")
