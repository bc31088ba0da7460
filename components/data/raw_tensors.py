"""Raw rows as TensorFlow tensors, shared by transform, training export and evaluation.

Two forms exist. Dense: one [batch] tensor per column, numbers as float64 with NaN where missing,
strings with "" where missing (a serving request may also send a missing spelling); the label's `derive`
and the serving signatures use it. Sparse: the tf.Transform input, one VarLen feature per column (float32, int64 or
string) holding no value where missing.

Inside the graph the rules of components/data/values.py hold: the spec's missing spellings are missing
(numbers: after stripping spaces), a non-finite number is refused unless its column reads it as missing,
an int column takes whole numbers only, and at serving a never-missing feature column must hold a value.
A refusal stops the batch with an InvalidArgumentError whose "assertion failed:" text names the column
(TensorFlow Serving answers it with a 400; the MLflow model turns it into one).
"""

from __future__ import annotations

import math
from typing import Mapping

import tensorflow as tf

from components.common.specs.base import Column, DatasetSpec, RawType
from components.data.values import FLOAT32_MAX, missing_values, never_missing

TRANSFORM_DTYPES: dict[RawType, tf.DType] = {"float": tf.float32, "int": tf.int64, "string": tf.string}
DENSE_DTYPES: dict[RawType, tf.DType] = {"float": tf.float64, "int": tf.float64, "string": tf.string}
# The texts Arrow reads as numbers (values.py casts with it): decimals, and inf/infinity/nan in any case.
DECIMAL = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
NON_FINITE = r"(?i)[+-]?(inf|infinity|nan)"
INT64_LIMIT = 2.0**63
SHOWN = 5  # values or rows a refusal shows


def raw_feature_spec(spec: DatasetSpec) -> dict[str, tf.io.VarLenFeature]:
    """tf.Transform input spec: every column it reads may be missing, so every one is VarLen."""
    return {
        name: tf.io.VarLenFeature(TRANSFORM_DTYPES[spec.column(name).dtype]) for name in spec.transform_input_columns
    }


def parse_csv_rows(rows: tf.Tensor, spec: DatasetSpec) -> dict[str, tf.Tensor]:
    """Decode raw CSV lines (no header, the spec's column order) into dense tensors.

    Quoted fields with commas are honoured; a missing spelling is missing ("" for text, NaN for numbers);
    a number the spec refuses stops the batch naming its column.
    """
    fields = tf.io.decode_csv(rows, record_defaults=[[""]] * len(spec.columns), na_value="")
    dense: dict[str, tf.Tensor] = {}
    for column, text in zip(spec.columns, fields):
        if column.dtype == "string":
            dense[column.name] = tf.where(is_missing_text(spec, text), "", text)
            continue
        stripped = tf.strings.strip(text)
        missing = is_missing_text(spec, stripped)
        number = tf.strings.regex_full_match(stripped, DECIMAL) | tf.strings.regex_full_match(stripped, NON_FINITE)
        _refuse(missing | number, f"column {column.name!r}: expected a number ({column.dtype}), got", stripped)
        values = tf.strings.to_number(tf.where(number, stripped, "0"), out_type=tf.float64)
        values = checked_numbers(column, values, given=tf.logical_not(missing))
        dense[column.name] = tf.where(missing, tf.constant(math.nan, tf.float64), values)
    return dense


def dense_to_sparse(dense: Mapping[str, tf.Tensor], spec: DatasetSpec) -> dict[str, tf.SparseTensor]:
    """Dense raw tensors (a serving request's) to the tf.Transform input form: missing values are dropped.

    The values are checked first by the training rules; a never-missing feature column without a value
    in some row stops the batch naming the column and the rows.
    """
    required = never_missing(spec) & set(spec.feature_columns)
    sparse: dict[str, tf.SparseTensor] = {}
    for name in spec.transform_input_columns:
        values = dense[name]
        column = spec.column(name)
        if column.dtype == "string":
            present = tf.logical_not(is_missing_text(spec, values) | tf.equal(values, ""))
        else:
            values = checked_numbers(column, values, given=tf.logical_not(tf.math.is_nan(values)))
            present = tf.logical_not(tf.math.is_nan(values))
        if name in required:
            rows = tf.range(tf.shape(values, out_type=tf.int64)[0])
            _refuse(present, f"column {name!r}: expected a value (max_null_fraction is 0), missing in row(s)", rows)
        batch_size = tf.shape(values, out_type=tf.int64)[0]
        row_indices = tf.boolean_mask(tf.range(batch_size), present)
        indices = tf.stack([row_indices, tf.zeros_like(row_indices)], axis=1)
        kept = tf.cast(tf.boolean_mask(values, present), TRANSFORM_DTYPES[column.dtype])
        sparse[name] = tf.SparseTensor(indices, kept, dense_shape=tf.stack([batch_size, 1]))
    return sparse


def is_missing_text(spec: DatasetSpec, text: tf.Tensor) -> tf.Tensor:
    """Whether each text is one of the spec's missing spellings (exactly)."""
    spellings = tf.constant(sorted(missing_values(spec)), tf.string, shape=[len(missing_values(spec))])
    return tf.reduce_any(tf.equal(tf.expand_dims(text, -1), spellings), axis=-1)


def checked_numbers(column: Column, values: tf.Tensor, given: tf.Tensor) -> tf.Tensor:
    """`values` where `given` by the column's rules: a non-finite one refused (or NaN where the column reads
    it as missing), an int column's value whole and within int64."""
    infinite = given & tf.logical_not(tf.math.is_finite(values))
    if column.dtype == "float":  # as the reader: beyond float32's range is inf where the model reads it
        infinite |= given & (tf.abs(values) > FLOAT32_MAX)
    if column.non_finite == "missing":
        values = tf.where(infinite, tf.constant(math.nan, tf.float64), values)
    else:
        _refuse(tf.logical_not(infinite), f"column {column.name!r}: expected a finite number, got", values)
    if column.dtype == "int":
        finite = given & tf.math.is_finite(values)
        whole = (tf.math.floor(values) == values) & (tf.abs(values) < INT64_LIMIT)
        _refuse(tf.logical_not(finite) | whole, f"column {column.name!r}: expected a whole number (int), got", values)
    return values


def _refuse(fine: tf.Tensor, message: str, shown: tf.Tensor) -> None:
    """Stop the batch unless every row is `fine`, showing the first of `shown` where it is not."""
    tf.debugging.Assert(
        tf.reduce_all(fine), [message, tf.boolean_mask(shown, tf.logical_not(fine))[:SHOWN]], summarize=SHOWN
    )
