"""Input and embedding layers shared by the built-in builders (and free for a user's builder to use)."""

from __future__ import annotations

import math
from typing import Sequence

import keras

from components.common.feature_info import TransformedFeature


def embedding_width(cardinality: int) -> int:
    """A common rule of thumb: about 1.6 × cardinality^0.56, capped to keep small data from overfitting."""
    return max(2, min(16, math.ceil(1.6 * cardinality**0.56)))


def model_inputs(features: Sequence[TransformedFeature]) -> dict[str, keras.KerasTensor]:
    """One named Keras input per transformed feature, with its dtype and per-example shape."""
    return {f.name: keras.Input(shape=f.shape, name=f.name, dtype=f.dtype) for f in features}


def dense_parts(
    features: Sequence[TransformedFeature], inputs: dict[str, keras.KerasTensor]
) -> list[keras.KerasTensor]:
    """One [batch, width] tensor per feature: numbers as they are, ids embedded, sequences' embeddings
    averaged over their non-padding ids (id 0 is padding)."""
    parts = []
    for feature in features:
        value = inputs[feature.name]
        if feature.kind == "numeric":
            parts.append(keras.layers.Reshape((1,))(value))
            continue
        size = int(feature.vocabulary_size or 0)
        width = embedding_width(size)
        if feature.kind == "categorical":
            parts.append(keras.layers.Embedding(size, width, name=f"{feature.name}_embedding")(value))
        else:
            embedded = keras.layers.Embedding(size, width, mask_zero=True, name=f"{feature.name}_embedding")(value)
            parts.append(keras.layers.GlobalAveragePooling1D(name=f"{feature.name}_mean")(embedded))
    return parts
