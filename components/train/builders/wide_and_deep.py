"""The default builder: a wide-and-deep network over the transformed features.

Deep: numbers, embedded ids and pooled text embeddings into a ReLU stack with dropout. Wide: a linear
path over the one-hot ids and the numbers. Their sum goes through the task's head.
"""

from __future__ import annotations

from typing import Sequence

import keras

from components.common.feature_info import TransformedFeature
from components.tasks import Task
from components.train.builders.layers import dense_parts, model_inputs
from components.train.hyperparameters import Hyperparameters


def build(features: Sequence[TransformedFeature], task: Task, hyperparameters: Hyperparameters) -> keras.Model:
    inputs = model_inputs(features)
    deep_parts = dense_parts(features, inputs)
    deep = keras.layers.Concatenate()(deep_parts) if len(deep_parts) > 1 else deep_parts[0]
    for units in hyperparameters.hidden_units:
        deep = keras.layers.Dense(units, activation="relu")(deep)
        deep = keras.layers.Dropout(hyperparameters.dropout)(deep)
    wide_parts = [
        keras.layers.CategoryEncoding(int(f.vocabulary_size or 0), output_mode="one_hot")(inputs[f.name])
        for f in features
        if f.kind == "categorical"
    ]
    wide_parts += [part for f, part in zip(features, deep_parts) if f.kind == "numeric"]
    logits = keras.layers.Dense(task.output_width)(deep)
    if wide_parts:
        wide = keras.layers.Concatenate()(wide_parts) if len(wide_parts) > 1 else wide_parts[0]
        logits = keras.layers.Add()([logits, keras.layers.Dense(task.output_width)(wide)])
    output = keras.layers.Activation(task.output_activation, dtype="float32", name="output")(logits)
    return keras.Model(inputs, output, name="wide_and_deep")
