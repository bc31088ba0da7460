"""Numbers: z-scores (optionally of log1p), quantile bin ids and piecewise-linear encodings over quantile
bins, every statistic and edge computed on the train split by tf.Transform's analyzers (see `Numeric`)."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Bucketized, Numeric
from components.transform.roles.base import RawInputs, RoleTransform
from components.transform.roles.tensors import dense

# Rank error of the approximate quantiles, as a share of the rows (tf.Transform's choice below 100 buckets).
QUANTILE_EPSILON = 0.01
# What each encoding contributes, by name suffix; `auto` is `z` and `piecewise_linear` together.
ENCODINGS = {"z": ("z",), "quantile_bins": ("bin",), "piecewise_linear": ("ple",), "auto": ("z", "ple")}


class NumericTransform(RoleTransform[Numeric]):
    def names(self, feature: Numeric) -> list[str]:
        return [f"{feature.column}_{suffix}" for suffix in ENCODINGS[feature.encoding]]

    def describe(self, feature: Numeric, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        described = {
            "z": TransformedFeature(f"{feature.column}_z", "numeric", "float32"),
            "bin": TransformedFeature(f"{feature.column}_bin", "categorical", "int64", vocabulary_size=feature.bins),
            "ple": TransformedFeature(f"{feature.column}_ple", "numeric", "float32", length=feature.bins),
        }
        return [described[suffix] for suffix in ENCODINGS[feature.encoding]]

    def apply(self, feature: Numeric, inputs: RawInputs) -> dict[str, tf.Tensor]:
        return self.apply_all([feature], inputs)

    def apply_all(self, features: Sequence[Numeric], inputs: RawInputs) -> dict[str, tf.Tensor]:
        """Every numeric column's encodings, with one analyzer per statistic for all the columns together
        (mean and variance; quantiles, min and max per bin count): the values are stacked into one
        [batch, columns] tensor and each statistic is taken per column (`elementwise`, `reduce_instance_dims`)."""
        values = {feature.column: _value(feature, inputs) for feature in features}
        outputs: dict[str, tf.Tensor] = {}
        scored = [feature for feature in features if "z" in ENCODINGS[feature.encoding]]
        if scored:
            z = tft.scale_to_z_score(_stacked(values, scored), elementwise=True)
            outputs.update({f"{feature.column}_z": z[:, i] for i, feature in enumerate(scored)})
        binned = [feature for feature in features if {"bin", "ple"} & set(ENCODINGS[feature.encoding])]
        for bins in sorted({feature.bins for feature in binned}):
            group = [feature for feature in binned if feature.bins == bins]
            stacked = _stacked(values, group)
            # [columns, bins - 1] inner edges: the bins' boundaries at the train split's quantiles.
            inner = tft.quantiles(stacked, bins, QUANTILE_EPSILON, reduce_instance_dims=False, name=f"quantiles_{bins}")
            inner = tf.reshape(inner, [len(group), bins - 1])
            lowest = tft.min(stacked, reduce_instance_dims=False)
            highest = tft.max(stacked, reduce_instance_dims=False)
            for i, feature in enumerate(group):
                value, suffixes = values[feature.column], ENCODINGS[feature.encoding]
                if "bin" in suffixes:
                    outputs[f"{feature.column}_bin"] = tft.apply_buckets(value, inner[i : i + 1])
                if "ple" in suffixes:
                    edges = tf.concat([lowest[i : i + 1], inner[i], highest[i : i + 1]], 0)
                    outputs[f"{feature.column}_ple"] = piecewise_linear(value, edges)
        return outputs


def _value(feature: Numeric, inputs: RawInputs) -> tf.Tensor:
    value = dense(inputs[feature.column], feature.default)
    return tf.math.log1p(tf.maximum(value, 0.0)) if feature.log else value


def _stacked(values: dict[str, tf.Tensor], features: Sequence[Numeric]) -> tf.Tensor:
    return tf.stack([values[feature.column] for feature in features], axis=1)


def piecewise_linear(value: tf.Tensor, edges: tf.Tensor) -> tf.Tensor:
    """[batch] values and [bins + 1] ascending edges -> [batch, bins] floats in [0, 1].

    Bin i is 1 when the value is at or above its upper edge, 0 below its lower edge, and the value's
    position between the two within it; a bin of zero width (edges repeated by ties in the data) is a
    step: 1 from its edge on. Values beyond the train split's range are clipped to all 0 or all 1.
    """
    lower, upper = edges[:-1], edges[1:]
    width = upper - lower
    column = tf.expand_dims(value, 1)
    has_width = width > 0
    within = tf.clip_by_value((column - lower) / tf.where(has_width, width, tf.ones_like(width)), 0.0, 1.0)
    step = tf.cast(column >= upper, tf.float32)
    return tf.where(has_width, within, step)


class BucketizedTransform(RoleTransform[Bucketized]):
    def names(self, feature: Bucketized) -> list[str]:
        return [f"{feature.column}_bucket"]

    def describe(self, feature: Bucketized, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        (name,) = self.names(feature)
        size = tft_output.num_buckets_for_transformed_feature(name)
        return [TransformedFeature(name, "categorical", "int64", vocabulary_size=size)]

    def apply(self, feature: Bucketized, inputs: RawInputs) -> dict[str, tf.Tensor]:
        (name,) = self.names(feature)
        return {name: tft.bucketize(dense(inputs[feature.column], feature.default), feature.num_buckets)}
