"""Latitude/longitude pairs: the grid cell of their quantile buckets, crossed."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import LatLongCross
from components.transform.roles.base import RawInputs, RoleTransform
from components.transform.roles.tensors import dense, present


class LatLongCrossTransform(RoleTransform[LatLongCross]):
    def names(self, feature: LatLongCross) -> list[str]:
        return [feature.name]

    def describe(self, feature: LatLongCross, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        cells = (feature.num_buckets + 1) ** 2
        return [TransformedFeature(feature.name, "categorical", "int64", vocabulary_size=cells)]

    def apply(self, feature: LatLongCross, inputs: RawInputs) -> dict[str, tf.Tensor]:
        """Cross of two quantile bucket ids; a missing coordinate takes the extra id `num_buckets`."""
        bucket_ids = []
        for column in (feature.latitude, feature.longitude):
            buckets = tft.bucketize(dense(inputs[column], 0.0), feature.num_buckets, elementwise=True)
            bucket_ids.append(tf.where(present(inputs[column]), buckets, tf.cast(feature.num_buckets, tf.int64)))
        latitude_id, longitude_id = bucket_ids
        return {feature.name: latitude_id * (feature.num_buckets + 1) + longitude_id}
