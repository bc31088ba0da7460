"""Raw input tensors as every role reads them: tf.Transform hands each raw column over as a VarLen
SparseTensor of shape [batch, None]; a missing value is an absent entry."""

from __future__ import annotations

import tensorflow as tf


def sparse_column(value: tf.SparseTensor) -> tf.SparseTensor:
    """The VarLen input reshaped to [batch, 1], even when no row in the batch has a value."""
    return tf.SparseTensor(value.indices, value.values, tf.stack([value.dense_shape[0], 1]))


def dense(value: tf.SparseTensor, default: object) -> tf.Tensor:
    """Strings as they are, numbers as float32; a missing value becomes `default`."""
    filled = tf.sparse.to_dense(sparse_column(value), default_value=tf.cast(default, value.dtype))
    squeezed = tf.squeeze(filled, axis=1)
    return squeezed if value.dtype == tf.string else tf.cast(squeezed, tf.float32)


def dense_raw(value: tf.SparseTensor) -> tf.Tensor:
    """The dense form of raw_tensors: numbers as float64 with NaN where missing, "" for text."""
    if value.dtype == tf.string:
        return dense(value, "")
    as_float = tf.SparseTensor(value.indices, tf.cast(value.values, tf.float64), value.dense_shape)
    return tf.squeeze(tf.sparse.to_dense(sparse_column(as_float), default_value=float("nan")), axis=1)


def present(value: tf.SparseTensor) -> tf.Tensor:
    """[batch] bool: whether the row has a value."""
    flags = tf.SparseTensor(value.indices, tf.ones_like(value.values, tf.bool), sparse_column(value).dense_shape)
    return tf.squeeze(tf.sparse.to_dense(flags, default_value=False), axis=1)


def as_text(value: tf.SparseTensor) -> tf.Tensor:
    """Text form of a categorical value; whole numbers drop their ".0"; missing is ""."""
    if value.dtype == tf.string:
        return dense(value, "")
    whole = tf.strings.as_string(tf.cast(tf.round(tf.cast(value.values, tf.float64)), tf.int64))
    return dense(tf.SparseTensor(value.indices, whole, value.dense_shape), "")
