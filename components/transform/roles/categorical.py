"""Categories: ids from a vocabulary computed on the train split, with out-of-vocabulary buckets."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Categorical
from components.transform.roles.base import RawInputs, RoleTransform
from components.transform.roles.tensors import as_text


class CategoricalTransform(RoleTransform[Categorical]):
    def names(self, feature: Categorical) -> list[str]:
        return [f"{feature.column}_id"]

    def describe(self, feature: Categorical, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        (name,) = self.names(feature)
        size = tft_output.num_buckets_for_transformed_feature(name)
        return [TransformedFeature(name, "categorical", "int64", vocabulary_size=size)]

    def apply(self, feature: Categorical, inputs: RawInputs) -> dict[str, tf.Tensor]:
        (name,) = self.names(feature)
        ids = tft.compute_and_apply_vocabulary(
            as_text(inputs[feature.column]),
            top_k=feature.top_k,
            num_oov_buckets=feature.oov_buckets,
            vocab_filename=feature.column,
        )
        return {name: ids}
