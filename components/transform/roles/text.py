"""Free text: token or n-gram ids from a vocabulary of the train split, 0 being padding (see `Text`)."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Text
from components.transform.roles.base import RawInputs, RoleTransform
from components.transform.roles.tensors import dense

# What the tokeniser turns into spaces before splitting: Unicode punctuation and symbols.
PUNCTUATION = r"[\pP\pS]"


class TextTransform(RoleTransform[Text]):
    def names(self, feature: Text) -> list[str]:
        return [f"{feature.column}_{'tokens' if feature.mode == 'sequence' else 'ngrams'}"]

    def describe(self, feature: Text, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        (name,) = self.names(feature)
        # Padding 0, the train split's vocabulary, then the out-of-vocabulary ids.
        size = 1 + tft_output.vocabulary_size_by_name(name) + feature.oov_buckets
        return [TransformedFeature(name, "sequence", "int64", size, feature.sequence_length)]

    def apply(self, feature: Text, inputs: RawInputs) -> dict[str, tf.Tensor]:
        """[batch, sequence_length] int64: vocabulary ids shifted by one, so that 0 is padding."""
        (name,) = self.names(feature)
        terms = tokens(dense(inputs[feature.column], ""))
        if feature.mode == "bag_of_words":
            terms = _distinct(_ngrams_in_text_order(terms, feature.ngrams))
        ids = tft.compute_and_apply_vocabulary(
            terms, top_k=feature.vocab_size, num_oov_buckets=feature.oov_buckets, vocab_filename=name
        )
        return {name: (ids + 1).to_tensor(default_value=0, shape=[None, feature.sequence_length])}


def tokens(text: tf.Tensor) -> tf.RaggedTensor:
    """[batch] strings to [batch, None] tokens: lower-cased, punctuation and symbols as spaces, split."""
    lowered = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.split(tf.strings.regex_replace(lowered, PUNCTUATION, " "))


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
