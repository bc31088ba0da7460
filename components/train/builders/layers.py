"""Input and embedding layers shared by the built-in builders (and free for a user's builder to use)."""

from __future__ import annotations

import math
from typing import Sequence

import keras

from components.common.feature_info import TransformedFeature
from components.train.builders.convolution import conv_tower


def embedding_width(cardinality: int) -> int:
    """A common rule of thumb: about 1.6 × cardinality^0.56, capped to keep small data from overfitting."""
    return max(2, min(16, math.ceil(1.6 * cardinality**0.56)))


def model_inputs(features: Sequence[TransformedFeature]) -> dict[str, keras.KerasTensor]:
    """One named Keras input per transformed feature, with its dtype and per-example shape."""
    return {f.name: keras.Input(shape=f.shape, name=f.name, dtype=f.dtype) for f in features}


def dense_parts(
    features: Sequence[TransformedFeature], inputs: dict[str, keras.KerasTensor]
) -> list[keras.KerasTensor]:
    """One [batch, width] tensor per feature: numbers as they are, ids embedded (at the feature's
    `embedding_width` when set, else by `embedding_width`), sequences' embeddings averaged over their
    non-padding ids (id 0 is padding)."""
    parts = []
    for feature in features:
        value = inputs[feature.name]
        if feature.kind == "numeric":
            parts.append(keras.layers.Reshape((feature.length or 1,))(value))
            continue
        if feature.kind == "image":  # pixels through a small convolutional tower
            parts.append(conv_tower(value, feature.name, feature.weights_uri))
            continue
        size = int(feature.vocabulary_size or 0)
        width = feature.embedding_width or embedding_width(size)
        if feature.kind == "categorical":
            parts.append(keras.layers.Embedding(size, width, name=f"{feature.name}_embedding")(value))
        else:
            embedded = keras.layers.Embedding(size, width, mask_zero=True, name=f"{feature.name}_embedding")(value)
            parts.append(MaskedMean(name=f"{feature.name}_mean")(embedded))
    return parts


class MaskedMean(keras.layers.Layer):
    """Mean over the steps the mask keeps; a row with none kept (an empty text) is all zeros.

    Keras' GlobalAveragePooling1D divides by the kept count, so an all-padding row would be NaN.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return keras.ops.mean(inputs, axis=1)
        kept = keras.ops.expand_dims(keras.ops.cast(mask, inputs.dtype), 2)
        total = keras.ops.sum(inputs * kept, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(kept, axis=1), keras.ops.cast(1, inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
