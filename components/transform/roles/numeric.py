"""Numbers: z-scores (optionally of log1p) and quantile bucket ids, statistics from the train split."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Bucketized, Numeric
from components.transform.roles.base import RawInputs
from components.transform.roles.tensors import dense


class NumericTransform:
    def names(self, feature: Numeric) -> list[str]:
        return [f"{feature.column}_z"]

    def describe(self, feature: Numeric, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        return [TransformedFeature(name, "numeric", "float32") for name in self.names(feature)]

    def apply(self, feature: Numeric, inputs: RawInputs) -> dict[str, tf.Tensor]:
        value = dense(inputs[feature.column], feature.default)
        if feature.log:
            value = tf.math.log1p(tf.maximum(value, 0.0))
        (name,) = self.names(feature)
        return {name: tft.scale_to_z_score(value)}


class BucketizedTransform:
    def names(self, feature: Bucketized) -> list[str]:
        return [f"{feature.column}_bucket"]

    def describe(self, feature: Bucketized, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        (name,) = self.names(feature)
        size = tft_output.num_buckets_for_transformed_feature(name)
        return [TransformedFeature(name, "categorical", "int64", vocabulary_size=size)]

    def apply(self, feature: Bucketized, inputs: RawInputs) -> dict[str, tf.Tensor]:
        (name,) = self.names(feature)
        return {name: tft.bucketize(dense(inputs[feature.column], feature.default), feature.num_buckets)}
