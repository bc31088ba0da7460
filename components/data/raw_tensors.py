"""Raw rows as TensorFlow tensors, shared by transform, training export and evaluation.

Two forms exist. Dense: one [batch] tensor per column, numbers as float64 with
NaN where missing, strings with "" where missing; the label's `derive` and the
serving signatures use it. Sparse: the tf.Transform input, one VarLen feature
per column (float32, int64 or string) holding no value where missing.
"""

from __future__ import annotations

from typing import Mapping

import tensorflow as tf

from components.common.specs.base import DatasetSpec, RawType

TRANSFORM_DTYPES: dict[RawType, tf.DType] = {"float": tf.float32, "int": tf.int64, "string": tf.string}
DENSE_DTYPES: dict[RawType, tf.DType] = {"float": tf.float64, "int": tf.float64, "string": tf.string}


def raw_feature_spec(spec: DatasetSpec) -> dict[str, tf.io.VarLenFeature]:
    """tf.Transform input spec: every column it reads may be missing, so every one is VarLen."""
    return {
        name: tf.io.VarLenFeature(TRANSFORM_DTYPES[spec.column(name).dtype]) for name in spec.transform_input_columns
    }


def parse_csv_rows(rows: tf.Tensor, spec: DatasetSpec) -> dict[str, tf.Tensor]:
    """Decode raw CSV lines (no header, the spec's column order) into dense tensors.

    Quoted fields with commas are honoured; an empty field is a missing value.
    """
    fields = tf.io.decode_csv(rows, record_defaults=[[""]] * len(spec.columns), na_value="")
    dense: dict[str, tf.Tensor] = {}
    for column, text in zip(spec.columns, fields):
        if column.dtype == "string":
            dense[column.name] = text
        else:
            present = tf.strings.length(tf.strings.strip(text)) > 0
            safe_text = tf.where(present, text, tf.fill(tf.shape(text), "nan"))
            dense[column.name] = tf.strings.to_number(safe_text, out_type=tf.float64)
    return dense


def dense_to_sparse(dense: Mapping[str, tf.Tensor], spec: DatasetSpec) -> dict[str, tf.SparseTensor]:
    """Dense raw tensors to the tf.Transform input form: missing values are dropped."""
    sparse: dict[str, tf.SparseTensor] = {}
    for name in spec.transform_input_columns:
        values = dense[name]
        column_type = spec.column(name).dtype
        if column_type == "string":
            present = tf.strings.length(values) > 0
        else:
            present = tf.logical_not(tf.math.is_nan(values))
        batch_size = tf.shape(values, out_type=tf.int64)[0]
        row_indices = tf.boolean_mask(tf.range(batch_size), present)
        indices = tf.stack([row_indices, tf.zeros_like(row_indices)], axis=1)
        kept = tf.cast(tf.boolean_mask(values, present), TRANSFORM_DTYPES[column_type])
        sparse[name] = tf.SparseTensor(indices, kept, dense_shape=tf.stack([batch_size, 1]))
    return sparse
