"""Numbers: z-scores (optionally of log1p), quantile bin ids and piecewise-linear encodings over quantile
bins, every statistic and edge computed on the train split by tf.Transform's analyzers (see `Numeric`)."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Bucketized, Numeric
from components.transform.roles.base import RawInputs
from components.transform.roles.tensors import dense

# Rank error of the approximate quantiles, as a share of the rows (tf.Transform's choice below 100 buckets).
QUANTILE_EPSILON = 0.01
# What each encoding contributes, by name suffix; `auto` is `z` and `piecewise_linear` together.
ENCODINGS = {"z": ("z",), "quantile_bins": ("bin",), "piecewise_linear": ("ple",), "auto": ("z", "ple")}


class NumericTransform:
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
        value = dense(inputs[feature.column], feature.default)
        if feature.log:
            value = tf.math.log1p(tf.maximum(value, 0.0))
        outputs: dict[str, tf.Tensor] = {}
        suffixes = ENCODINGS[feature.encoding]
        if "z" in suffixes:
            outputs[f"{feature.column}_z"] = tft.scale_to_z_score(value)
        if "bin" in suffixes or "ple" in suffixes:
            # bins - 1 inner edges: the bins' boundaries at the train split's quantiles.
            inner = tft.quantiles(value, feature.bins, QUANTILE_EPSILON, name=f"{feature.column}_quantiles")
            if "bin" in suffixes:
                outputs[f"{feature.column}_bin"] = tft.apply_buckets(value, inner)
            if "ple" in suffixes:
                edges = tf.concat(
                    [tf.reshape(tft.min(value), [1]), tf.reshape(inner, [-1]), tf.reshape(tft.max(value), [1])], 0
                )
                outputs[f"{feature.column}_ple"] = piecewise_linear(value, edges)
        return outputs


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
