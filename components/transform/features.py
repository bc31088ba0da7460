"""The tf.Transform `preprocessing_fn` generated from a dataset spec.

Each spec feature becomes one or more transformed features, named here so that
the trainer can build its inputs from the same spec. Numbers come out as float32
z-scores; categorical, bucket, time-part and grid-cell features come out as int64
ids in [0, cardinality). Text comes out as a fixed-length int64 vector of token or n-gram ids,
0 being padding (see `Text`).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import (
    Bucketized,
    Categorical,
    DatasetSpec,
    Feature,
    LatLongCross,
    Numeric,
    Text,
    TimestampParts,
)
from components.tasks import task_of

TIME_PART_CARDINALITY = {"hour": 24, "weekday": 7, "month": 12}
SECONDS_PER_DAY = 86400
# What the tokeniser turns into spaces before splitting: Unicode punctuation and symbols.
PUNCTUATION = r"[\pP\pS]"


def transformed_names(feature: Feature) -> list[str]:
    """Names of the transformed features one spec feature produces."""
    if isinstance(feature, Numeric):
        return [f"{feature.column}_z"]
    if isinstance(feature, Bucketized):
        return [f"{feature.column}_bucket"]
    if isinstance(feature, Categorical):
        return [f"{feature.column}_id"]
    if isinstance(feature, TimestampParts):
        return [f"{feature.column}_{part}" for part in feature.parts]
    if isinstance(feature, Text):
        return [f"{feature.column}_{'tokens' if feature.mode == 'sequence' else 'ngrams'}"]
    return [feature.name]


def categorical_cardinalities(spec: DatasetSpec, tft_output: tft.TFTransformOutput) -> dict[str, int]:
    """Number of distinct ids of every transformed feature that is one id (a Text feature's: text_vocabulary_size)."""
    sizes: dict[str, int] = {}
    for feature in spec.features:
        names = transformed_names(feature)
        if isinstance(feature, (Categorical, Bucketized)):
            sizes[names[0]] = tft_output.num_buckets_for_transformed_feature(names[0])
        elif isinstance(feature, TimestampParts):
            sizes.update({name: TIME_PART_CARDINALITY[part] for name, part in zip(names, feature.parts)})
        elif isinstance(feature, LatLongCross):
            sizes[names[0]] = (feature.num_buckets + 1) ** 2
    return sizes


def transformed_features(spec: DatasetSpec, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
    """What a model builder is given: every transformed feature's name, kind, dtype, shape and id count."""
    cardinalities = categorical_cardinalities(spec, tft_output)
    described: list[TransformedFeature] = []
    for feature in spec.features:
        for name in transformed_names(feature):
            if isinstance(feature, Numeric):
                described.append(TransformedFeature(name, "numeric", "float32"))
            elif isinstance(feature, Text):
                size = text_vocabulary_size(feature, tft_output)
                described.append(TransformedFeature(name, "sequence", "int64", size, feature.sequence_length))
            else:
                described.append(TransformedFeature(name, "categorical", "int64", vocabulary_size=cardinalities[name]))
    return described


def text_vocabulary_size(feature: Text, tft_output: tft.TFTransformOutput) -> int:
    """Ids a Text feature takes: padding 0, the train split's vocabulary, then the out-of-vocabulary ids."""
    (name,) = transformed_names(feature)
    return 1 + tft_output.vocabulary_size_by_name(name) + feature.oov_buckets


def make_preprocessing_fn(spec: DatasetSpec) -> Callable[[dict[str, tf.SparseTensor]], dict[str, tf.Tensor]]:
    """Every spec feature's transformed features, and the label as the task encodes it."""
    task = task_of(spec)

    def preprocessing_fn(inputs: dict[str, tf.SparseTensor]) -> dict[str, tf.Tensor]:
        outputs: dict[str, tf.Tensor] = {}
        for feature in spec.features:
            outputs.update(_transform_feature(feature, inputs))
        label_inputs = {name: _dense_raw(inputs[name]) for name in spec.label.source_columns}
        outputs[spec.label.name] = task.encode_label(spec.label.derive(label_inputs))
        return outputs

    return preprocessing_fn


def _transform_feature(feature: Feature, inputs: dict[str, tf.SparseTensor]) -> dict[str, tf.Tensor]:
    (name, *_) = transformed_names(feature)
    if isinstance(feature, Numeric):
        value = _dense(inputs[feature.column], feature.default)
        if feature.log:
            value = tf.math.log1p(tf.maximum(value, 0.0))
        return {name: tft.scale_to_z_score(value)}
    if isinstance(feature, Bucketized):
        value = _dense(inputs[feature.column], feature.default)
        return {name: tft.bucketize(value, feature.num_buckets)}
    if isinstance(feature, Categorical):
        text = _as_text(inputs[feature.column])
        ids = tft.compute_and_apply_vocabulary(
            text, top_k=feature.top_k, num_oov_buckets=feature.oov_buckets, vocab_filename=feature.column
        )
        return {name: ids}
    if isinstance(feature, TimestampParts):
        seconds = _dense(inputs[feature.column], 0)
        parts = _time_parts(seconds)
        return {part_name: parts[part] for part_name, part in zip(transformed_names(feature), feature.parts)}
    if isinstance(feature, Text):
        return {name: _text_ids(feature, name, _dense(inputs[feature.column], ""))}
    return {name: _grid_cell(feature, inputs)}


def tokens(text: tf.Tensor) -> tf.RaggedTensor:
    """[batch] strings to [batch, None] tokens: lower-cased, punctuation and symbols as spaces, split."""
    lowered = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.split(tf.strings.regex_replace(lowered, PUNCTUATION, " "))


def _text_ids(feature: Text, name: str, text: tf.Tensor) -> tf.Tensor:
    """[batch, sequence_length] int64: vocabulary ids shifted by one, so that 0 is padding."""
    terms = tokens(text)
    if feature.mode == "bag_of_words":
        terms = _distinct(_ngrams_in_text_order(terms, feature.ngrams))
    ids = tft.compute_and_apply_vocabulary(
        terms, top_k=feature.vocab_size, num_oov_buckets=feature.oov_buckets, vocab_filename=name
    )
    return (ids + 1).to_tensor(default_value=0, shape=[None, feature.sequence_length])


def _ngrams_in_text_order(terms: tf.RaggedTensor, widest: int) -> tf.RaggedTensor:
    """The 1- to `widest`-grams of each row, ordered by where they start, shorter first at each start."""
    shape = terms.bounding_shape()
    by_width = [
        tf.strings.ngrams(terms, width, separator=" ").to_tensor(default_value="", shape=shape)
        for width in range(1, widest + 1)
    ]
    # [batch, start, width] read row by row; tokens are never empty, so "" marks where no n-gram starts.
    interleaved = tf.reshape(tf.stack(by_width, axis=2), [shape[0], -1])
    return tf.ragged.boolean_mask(interleaved, tf.not_equal(interleaved, ""))


def _distinct(terms: tf.RaggedTensor) -> tf.RaggedTensor:
    """Each row's first occurrence of every term, in order."""
    keyed = tf.strings.join([tf.strings.as_string(terms.value_rowids()), terms.flat_values], separator=" ")
    unique, index = tf.unique(keyed)
    positions = tf.range(tf.size(index))
    first = tf.math.unsorted_segment_min(positions, index, num_segments=tf.size(unique))
    keep = tf.equal(tf.gather(first, index), positions)
    return tf.ragged.boolean_mask(terms, terms.with_flat_values(keep))


def _grid_cell(feature: LatLongCross, inputs: dict[str, tf.SparseTensor]) -> tf.Tensor:
    """Cross of two quantile bucket ids; a missing coordinate takes the extra id `num_buckets`."""
    bucket_ids = []
    for column in (feature.latitude, feature.longitude):
        present = _present(inputs[column])
        value = _dense(inputs[column], 0.0)
        buckets = tft.bucketize(value, feature.num_buckets, elementwise=True)
        bucket_ids.append(tf.where(present, buckets, tf.cast(feature.num_buckets, tf.int64)))
    latitude_id, longitude_id = bucket_ids
    return latitude_id * (feature.num_buckets + 1) + longitude_id


def _time_parts(seconds: tf.Tensor) -> dict[str, tf.Tensor]:
    """UTC hour, weekday (Monday = 0) and month (January = 0) of Unix seconds, as int64."""
    seconds = tf.cast(seconds, tf.int64)
    days = tf.math.floordiv(seconds, SECONDS_PER_DAY)
    hour = tf.math.floordiv(tf.math.floormod(seconds, SECONDS_PER_DAY), 3600)
    weekday = tf.math.floormod(days + 3, 7)  # 1970-01-01 was a Thursday
    # Civil-from-days (proleptic Gregorian calendar), month only.
    shifted = days + 719468
    era = tf.math.floordiv(shifted, 146097)
    day_of_era = shifted - era * 146097
    year_of_era = tf.math.floordiv(day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096, 365)
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    march_based_month = (5 * day_of_year + 2) // 153
    month = tf.where(march_based_month < 10, march_based_month + 2, march_based_month - 10)
    return {"hour": hour, "weekday": weekday, "month": month}


def _sparse_column(value: tf.SparseTensor) -> tf.SparseTensor:
    """The VarLen input reshaped to [batch, 1], even when no row in the batch has a value."""
    return tf.SparseTensor(value.indices, value.values, tf.stack([value.dense_shape[0], 1]))


def _dense(value: tf.SparseTensor, default: object) -> tf.Tensor:
    """Strings as they are, numbers as float32; a missing value becomes `default`."""
    dense = tf.squeeze(tf.sparse.to_dense(_sparse_column(value), default_value=tf.cast(default, value.dtype)), axis=1)
    return dense if value.dtype == tf.string else tf.cast(dense, tf.float32)


def _dense_raw(value: tf.SparseTensor) -> tf.Tensor:
    """The dense form of raw_tensors: numbers as float64 with NaN where missing, "" for text."""
    if value.dtype == tf.string:
        return _dense(value, "")
    as_float = tf.SparseTensor(value.indices, tf.cast(value.values, tf.float64), value.dense_shape)
    return tf.squeeze(tf.sparse.to_dense(_sparse_column(as_float), default_value=float("nan")), axis=1)


def _present(value: tf.SparseTensor) -> tf.Tensor:
    present = tf.sparse.to_dense(
        tf.SparseTensor(value.indices, tf.ones_like(value.values, tf.bool), _sparse_column(value).dense_shape),
        default_value=False,
    )
    return tf.squeeze(present, axis=1)


def _as_text(value: tf.SparseTensor) -> tf.Tensor:
    """Text form of a categorical value; whole numbers drop their ".0"; missing is ""."""
    if value.dtype == tf.string:
        return _dense(value, "")
    whole = tf.strings.as_string(tf.cast(tf.round(tf.cast(value.values, tf.float64)), tf.int64))
    return _dense(tf.SparseTensor(value.indices, whole, value.dense_shape), "")
