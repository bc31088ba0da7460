"""Privacy treatments inside the transform graph: every sensitive column is treated before any role reads it.

The graph is the serving graph too, so a raw request is treated exactly as the training rows were. Each
treatment is idempotent: a treated value (the eval copy holds treated values, and evaluate feeds them to
the served model) treated again is itself. A Drop'd column never reaches the graph (nothing reads it).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import tensorflow as tf

from components.common.specs.base import DatasetSpec, Generalize, Keep, Pseudonymize, Treatment
from components.common.specs.privacy_values import PSEUDONYM_PREFIX, needs_key, pseudonymize_key
from components.transform.roles.base import RawInputs

Key = tuple[int, int] | None
TreatFn = Callable[[Any, tf.SparseTensor, Key], tf.SparseTensor]
# Month and year of an ISO date, or of a date already generalised to them.
DATE_PATTERNS = {"month": (r"(\d{4}-\d{2})(-\d{2}.*)?", r"\1"), "year": (r"(\d{4})(-\d{2}(-\d{2}.*)?)?", r"\1")}


def _values(value: tf.SparseTensor, values: tf.Tensor) -> tf.SparseTensor:
    return tf.SparseTensor(value.indices, values, value.dense_shape)


def _text(value: tf.SparseTensor) -> tf.Tensor:
    """The values as text; whole numbers without ".0" (as `privacy_values.as_text`)."""
    if value.dtype == tf.string:
        return value.values
    return tf.strings.as_string(tf.cast(value.values, tf.int64))


def pseudonymize(treatment: Pseudonymize, value: tf.SparseTensor, key: Key) -> tf.SparseTensor:
    """int64 bucket ids: keyed SipHash of the text; a token already ("pseudonym-17") keeps its bucket."""
    assert key is not None, "make_preprocessing_fn reads the key for a spec that pseudonymises"
    text = _text(value)
    # The op's key attribute is int64; SipHash reads the same 64 bits unsigned.
    signed = [word - (1 << 64) if word >= 1 << 63 else word for word in key]
    hashed = tf.strings.to_hash_bucket_strong(text, treatment.buckets, key=signed)
    is_token = tf.strings.regex_full_match(text, f"{PSEUDONYM_PREFIX}[0-9]{{1,18}}")
    digits = tf.where(is_token, tf.strings.regex_replace(text, f"^{PSEUDONYM_PREFIX}", ""), "0")
    given = tf.math.floormod(tf.strings.to_number(digits, out_type=tf.int64), treatment.buckets)
    return _values(value, tf.where(is_token, given, hashed))


def generalize(treatment: Generalize, value: tf.SparseTensor, key: Key) -> tf.SparseTensor:
    """A date to its month or year (any other text dropped: missing), a text to its prefix, a number to its bin."""
    if treatment.bins is not None:
        edges = tf.constant(treatment.bins, tf.float32)
        numbers = tf.cast(value.values, tf.float32)
        at = tf.maximum(tf.searchsorted(edges, numbers, side="right") - 1, 0)
        return _values(value, tf.gather(edges, at))
    text = _text(value)
    if treatment.prefix is not None:
        return _values(value, tf.strings.substr(text, 0, treatment.prefix, unit="UTF8_CHAR"))
    pattern, replacement = DATE_PATTERNS[treatment.to or "month"]
    dates = _values(value, tf.strings.regex_replace(text, f"^{pattern}$", replacement))
    return tf.sparse.retain(dates, tf.strings.regex_full_match(text, pattern))


def keep(treatment: Keep, value: tf.SparseTensor, key: Key) -> tf.SparseTensor:
    return value


TREATMENTS: dict[type, TreatFn] = {Pseudonymize: pseudonymize, Generalize: generalize, Keep: keep}


def graph_key(spec: DatasetSpec) -> Key:
    """The SipHash key when the spec pseudonymises (refused, naming PSEUDONYMIZE_KEY, when unset), else None."""
    return pseudonymize_key() if needs_key(spec.sensitive) else None


def treat_inputs(sensitive: Mapping[str, Treatment], inputs: RawInputs, key: Key) -> RawInputs:
    """The raw inputs with every sensitive column the graph reads replaced by its treated value."""
    treated = dict(inputs)
    for name, treatment in sensitive.items():
        if name in treated:
            treated[name] = TREATMENTS[type(treatment)](treatment, treated[name], key)
    return treated
