"""Categories: ids from a vocabulary computed on the train split, with out-of-vocabulary buckets."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Categorical
from components.transform.roles.base import RawInputs, RoleTransform
from components.transform.roles.tensors import as_text

# The counting sketch's capacity where the spec keeps every value: Misra-Gries counts exactly while it holds
# every distinct value, so below this many a column's vocabulary is the exact one.
EVERY_VALUE = 200_000  # the most tf.Transform allows


class CategoricalTransform(RoleTransform[Categorical]):
    def names(self, feature: Categorical) -> list[str]:
        return [f"{feature.column}_id"]

    def describe(self, feature: Categorical, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        (name,) = self.names(feature)
        size = tft_output.num_buckets_for_transformed_feature(name)
        return [TransformedFeature(name, "categorical", "int64", vocabulary_size=size)]

    def apply(self, feature: Categorical, inputs: RawInputs) -> dict[str, tf.Tensor]:
        (name,) = self.names(feature)
        text = as_text(inputs[feature.column])
        if feature.top_k is None:
            # Counted by a sketch, which tf.Transform packs with the other columns' into one Beam combine
            # (an exact vocabulary is a chain of stages per column); exact while it holds every value.
            vocabulary = tft.experimental.approximate_vocabulary(text, EVERY_VALUE, vocab_filename=feature.column)
        else:
            vocabulary = tft.vocabulary(text, top_k=feature.top_k, vocab_filename=feature.column)
        return {name: tft.apply_vocabulary(text, vocabulary, num_oov_buckets=feature.oov_buckets)}
