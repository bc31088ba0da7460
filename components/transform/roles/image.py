"""Images: encoded bytes (PNG or JPEG) decoded, resized and scaled to [0, 1] inside the graph (see `Image`).

The same graph runs at training and at serving, so the served model takes the encoded bytes and nothing
outside it prepares an image differently. A missing image (only where the spec tolerates bad ones) is
all zeros; bytes that do not decode stop the batch (validation refuses them before any step reads them).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Image
from components.transform.roles.base import RawInputs, RoleTransform
from components.transform.roles.tensors import dense


class ImageTransform(RoleTransform[Image]):
    def names(self, feature: Image) -> list[str]:
        return [f"{feature.column}_pixels"]

    def describe(self, feature: Image, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        (name,) = self.names(feature)
        weights = feature.weights_uri or None
        return [TransformedFeature(name, "image", "float32", dims=image_shape(feature), weights_uri=weights)]

    def apply(self, feature: Image, inputs: RawInputs) -> dict[str, tf.Tensor]:
        """[batch, height, width, channels] float32 in [0, 1]."""
        (name,) = self.names(feature)
        return {name: decode_images(dense(inputs[feature.column], ""), feature)}


def image_shape(feature: Image) -> tuple[int, int, int]:
    return (feature.height, feature.width, feature.channels)


def decode_images(encoded: tf.Tensor, feature: Image) -> tf.Tensor:
    """[batch] encoded images ("" where missing) -> [batch, height, width, channels] float32 in [0, 1]."""

    def one(data: tf.Tensor) -> tf.Tensor:
        return tf.cond(
            tf.equal(data, ""),
            lambda: tf.zeros(image_shape(feature), tf.float32),
            lambda: _decoded(data, feature),
        )

    spec = tf.TensorSpec(image_shape(feature), tf.float32)
    return tf.map_fn(one, encoded, fn_output_signature=spec)


def _decoded(data: tf.Tensor, feature: Image) -> tf.Tensor:
    pixels = tf.io.decode_image(data, channels=feature.channels, dtype=tf.uint8, expand_animations=False)
    pixels = tf.ensure_shape(pixels, [None, None, feature.channels])
    resized = tf.image.resize(tf.cast(pixels, tf.float32), [feature.height, feature.width], method="area")
    return tf.reshape(tf.clip_by_value(resized / 255.0, 0.0, 1.0), image_shape(feature))
