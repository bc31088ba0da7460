"""Text features: tokenisation inside tf.Transform with known answers, pooled and LSTM models trained on
tiny made-up reviews, the raw string in at serving, and validation of a text column.

The bundled reviews (fine_foods) are checked against their spec with the other bundled data (tests/data)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from sklearn.metrics import roc_auc_score

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Column, DatasetSpec, Label, Text
from components.data.raw_tensors import dense_to_sparse
from components.train.builders.layers import MaskedMean
from components.train.task import Hyperparameters, train_model
from components.transform.features import transformed_features
from components.transform.layout import EVAL, TRAIN
from components.transform.roles.text import tokens
from components.transform.rows import split_of
from components.transform.task import run_transform
from components.validate.task import DataValidationError, validate_data

HERE = Path(__file__).parent


def flagged(raw):
    return tf.cast(tf.equal(raw["flag"], "y"), tf.int64)


def _spec(name: str, features: tuple[Text, ...], **overrides) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        description="made-up reviews for the text tests",
        columns=(
            Column("id", "int"),
            Column("review", "string", max_null_fraction=0.5),
            Column("flag", "string", allowed_values=("y", "n")),
        ),
        label=Label("flagged", ("flag",), ("flag",), flagged, 'flag == "y"'),
        features=features,
        slice_columns=(),
        min_rows=5,
        thresholds={"roc_auc": 0.5},
        **overrides,
    )


# --- the tokeniser and the spec, no Beam ---------------------------------------------------------


def _tokens(*texts: str) -> list[list[str]]:
    return [[t.decode() for t in row] for row in tokens(tf.constant(texts)).to_list()]


def test_tokens_are_lower_cased_words_without_punctuation_or_symbols():
    assert _tokens("The CAT's  bowl,<br />full!", "Ünïcode—ÉCOLE… 3.5$", "", "   ") == [
        ["the", "cat", "s", "bowl", "br", "full"],
        ["ünïcode", "école", "3", "5"],
        [],
        [],
    ]


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"mode": "words"}, "mode must be 'bag_of_words' or 'sequence'"),
        ({"mode": "sequence", "ngrams": 2}, "ngrams applies to mode 'bag_of_words'"),
        ({"vocab_size": 0}, "vocab_size must be at least 1"),
        ({"sequence_length": 0}, "sequence_length must be at least 1"),
        ({"oov_buckets": 0}, "oov_buckets must be at least 1"),
    ],
)
def test_a_text_feature_that_cannot_work_is_refused_naming_its_column(fields, problem):
    with pytest.raises(ValueError, match=rf"Text\('review'\): {problem}"):
        Text("review", **fields)


def test_the_pooled_mean_skips_padding_and_an_all_padding_row_is_zero():
    embedding = keras.layers.Embedding(6, 3, mask_zero=True)
    ids = np.array([[3, 5, 0, 0], [0, 0, 0, 0], [4, 4, 4, 1]])
    vectors = embedding(ids).numpy()
    pooled = MaskedMean()(embedding(ids)).numpy()
    np.testing.assert_allclose(pooled[0], (vectors[0, 0] + vectors[0, 1]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(pooled[1], np.zeros(3))
    np.testing.assert_allclose(pooled[2], vectors[2].mean(axis=0), rtol=1e-6)


# --- tf.Transform on a tiny input: vocabulary, ids, n-grams, padding, OOV -------------------------

BAG = Text("review", mode="bag_of_words", ngrams=2, vocab_size=3, sequence_length=6, oov_buckets=2)
SEQUENCE = Text("review", mode="sequence", vocab_size=3, sequence_length=4)
KNOWN = _spec("known_text", (BAG, SEQUENCE), eval_fraction=0.3, validation_fraction=0.1)
# Counted in the train rows: apple in 5 rows (6 times), banana in 4 (4), "apple banana" in 3, zebra in 1 (6):
# the bag's vocabulary (rows) is apple, banana, "apple banana"; the sequence's (occurrences) apple, zebra, banana.
TRAIN_TEXTS = [
    "Apple banana. APPLE!",
    "apple, cherry",
    "Banana apple",
    "zebra zebra zebra zebra zebra zebra",
    "",
    "cherry apple banana",
    "apple banana",
]
# Only outside the train split: however often kiwi occurs there, it is out of the vocabulary.
EVAL_TEXTS = ["kiwi kiwi kiwi kiwi kiwi kiwi kiwi kiwi kiwi", "kiwi apple"]


def _csv_line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().rstrip("\n")


def _rows_in(split: str, texts: list[str], spec: DatasetSpec, first_id: int) -> list[list[str]]:
    """One row per text, each with the first id from `first_id` on that puts its line in `split`."""
    rows, next_id = [], first_id
    for text in texts:
        while split_of(_csv_line([str(next_id), text, "y"]), spec.eval_fraction, spec.validation_fraction) != split:
            next_id += 1
        rows.append([str(next_id), text, "y"])
        next_id += 1
    return rows


def _write(path: Path, spec: DatasetSpec, rows: list[list[str]]) -> Path:
    path.write_text("\n".join([",".join(spec.column_names), *map(_csv_line, rows)]) + "\n", encoding="utf-8")
    return path


def _transform(tft_output: tft.TFTransformOutput, spec: DatasetSpec, texts: list[str]) -> dict[str, np.ndarray]:
    """The transform graph (the one serving runs) on raw texts; "" is a missing text."""
    dense = {"review": tf.constant(texts), "flag": tf.constant(["y"] * len(texts))}
    outputs = tft_output.transform_features_layer()(dense_to_sparse(dense, spec))
    return {name: value.numpy() for name, value in outputs.items()}


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    root = tmp_path_factory.mktemp("known_text")
    rows = _rows_in(TRAIN, TRAIN_TEXTS, KNOWN, 0) + _rows_in(EVAL, EVAL_TEXTS, KNOWN, 1000)
    run_transform(str(_write(root / "raw.csv", KNOWN, rows)), KNOWN, root / "graph", root / "examples", root / "e.csv")
    return root, tft.TFTransformOutput(str(root / "graph"))


def _ids(tft_output: tft.TFTransformOutput, name: str, terms: list[str]) -> list[int]:
    """Each term's id: its place in the vocabulary file (most frequent first) + 1, as 0 is padding."""
    vocabulary = [t.decode() for t in tft_output.vocabulary_by_name(name)]
    return [vocabulary.index(t) + 1 for t in terms]


@pytest.mark.slow
def test_vocabularies_come_from_the_train_split_by_rows_or_by_occurrences(known):
    _, tft_output = known
    occurrences = Counter(t for row in _tokens(*TRAIN_TEXTS) for t in row)
    assert occurrences.most_common(4) == [("apple", 6), ("zebra", 6), ("banana", 4), ("cherry", 2)]
    assert {t.decode() for t in tft_output.vocabulary_by_name("review_tokens")} == {"apple", "zebra", "banana"}
    assert {t.decode() for t in tft_output.vocabulary_by_name("review_ngrams")} == {"apple", "banana", "apple banana"}


@pytest.mark.slow
def test_schema_and_what_a_builder_is_told(known):
    _, tft_output = known
    feature_spec = tft_output.transformed_feature_spec()
    assert feature_spec["review_ngrams"] == tf.io.FixedLenFeature([6], tf.int64)
    assert feature_spec["review_tokens"] == tf.io.FixedLenFeature([4], tf.int64)
    assert transformed_features(KNOWN, tft_output) == [
        # padding + 3 vocabulary ids + 2 OOV ids; padding + 3 + 1
        TransformedFeature("review_ngrams", "sequence", "int64", vocabulary_size=6, length=6),
        TransformedFeature("review_tokens", "sequence", "int64", vocabulary_size=5, length=4),
    ]


@pytest.mark.slow
def test_sequence_ids_are_the_first_tokens_in_order_padded_with_zero(known):
    _, tft_output = known
    out = _transform(tft_output, KNOWN, ["Apple banana. APPLE!", "zebra zebra zebra zebra zebra zebra", "", "kiwi"])
    apple, zebra, banana = _ids(tft_output, "review_tokens", ["apple", "zebra", "banana"])
    oov = 4  # 1 + 3 vocabulary ids: the one OOV bucket
    np.testing.assert_array_equal(
        out["review_tokens"], [[apple, banana, apple, 0], [zebra] * 4, [0, 0, 0, 0], [oov, 0, 0, 0]]
    )
    assert sorted((apple, zebra, banana)) == [1, 2, 3]


@pytest.mark.slow
def test_bag_holds_each_distinct_ngram_once_in_text_order_then_padding(known):
    _, tft_output = known
    texts = ["Apple banana. APPLE!", "", "apple banana cherry date egg fig", "kiwi kiwi"]
    out = _transform(tft_output, KNOWN, texts)["review_ngrams"]
    apple, banana, apple_banana = _ids(tft_output, "review_ngrams", ["apple", "banana", "apple banana"])
    oov = {4, 5}  # after padding and the 3 vocabulary ids, the 2 OOV buckets
    # apple, "apple banana", banana, "banana apple" (OOV); the second apple is already in the bag
    assert out[0].tolist()[:3] == [apple, apple_banana, banana] and out[0][3] in oov
    assert out[0].tolist()[4:] == [0, 0]
    np.testing.assert_array_equal(out[1], np.zeros(6))
    # 11 n-grams, the first 6 kept: apple, "apple banana", banana, then "banana cherry", cherry, "cherry date"
    assert out[2].tolist()[:3] == [apple, apple_banana, banana] and set(out[2][3:]) <= oov
    # kiwi and "kiwi kiwi" are two OOV n-grams; the second kiwi adds nothing
    assert set(out[3][:2]) <= oov and out[3].tolist()[2:] == [0, 0, 0, 0]


@pytest.mark.slow
def test_beam_wrote_what_the_serving_graph_computes(known):
    """The ids in the transformed examples are the ones the SavedModel's transform layer gives the raw text."""
    root, tft_output = known
    files = sorted(str(p) for p in (root / "examples").glob(f"{TRAIN}-*"))
    written = tf.io.parse_example(
        list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()),
        tft_output.transformed_feature_spec(),
    )
    served = _transform(tft_output, KNOWN, TRAIN_TEXTS)
    for name in ("review_ngrams", "review_tokens"):
        assert sorted(map(tuple, written[name].numpy().tolist())) == sorted(map(tuple, served[name].tolist()))


# --- training: the pooled built-in builder and a user's LSTM, served from raw strings -------------

GOOD = ("great", "tasty", "love", "fresh", "crunchy")
BAD = ("awful", "stale", "bland", "broken", "soggy")
FILLER = ("the", "box", "came", "with", "a", "snack", "and", "it", "was", "today", "my", "kids")
REVIEWS = _spec(
    "made_up_reviews",
    (Text("review", mode="bag_of_words", ngrams=2, vocab_size=200, sequence_length=16),),
)
SEQUENCE_REVIEWS = _spec("made_up_sequences", (Text("review", mode="sequence", vocab_size=200, sequence_length=12),))


def _review_rows(count: int, seed: int) -> list[list[str]]:
    """Filler words and one or two words of the row's sentiment, a few capitalised or punctuated;
    3% of the reviews are missing (their label is a coin flip)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        good = rng.random() < 0.5
        words = list(rng.choice(FILLER, size=rng.integers(3, 8)))
        for word in rng.choice(GOOD if good else BAD, size=rng.integers(1, 3)):
            words.insert(rng.integers(0, len(words) + 1), word.capitalize() + "!" if rng.random() < 0.3 else word)
        text = "" if rng.random() < 0.03 else " ".join(words)
        rows.append([str(seed * 100_000 + i), text, "y" if good else "n"])
    return rows


def _train(root: Path, spec: DatasetSpec, builder: str, epochs: int):
    data = root / "reviews.csv"
    if not data.exists():
        _write(data, spec, _review_rows(800, seed=1))
    run_transform(str(data), spec, root / "graph", root / "examples", root / "eval.csv")
    hyperparameters = Hyperparameters(epochs=epochs, batch_size=32, hidden_units=(16,), early_stopping_patience=2)
    result = train_model(spec, root / "graph", root / "examples", root / "model", hyperparameters, builder)
    return result, tf.saved_model.load(str(root / "model"))


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("pooled"), REVIEWS, "wide_and_deep", epochs=6)


def _fresh_auc(model, seed: int) -> float:
    rows = [row for row in _review_rows(300, seed) if row[1]]
    served = model.signatures["serving_default"](review=tf.constant([row[1] for row in rows]))["probability"]
    return roc_auc_score([row[2] == "y" for row in rows], served.numpy())


@pytest.mark.slow
def test_the_built_in_builder_pools_the_bag_and_learns_the_words(pooled):
    result, model = pooled
    assert result.best_val_metric > 0.9, result.history
    assert _fresh_auc(model, seed=2) > 0.95


@pytest.mark.slow
def test_serving_takes_the_raw_string_and_a_missing_or_unknown_text_still_scores(pooled):
    _, model = pooled
    signature = model.signatures["serving_default"]
    assert {name: spec.dtype for name, spec in signature.structured_input_signature[1].items()} == {"review": tf.string}
    texts = ["Great, tasty snack!", "awful... and STALE", "", "zzz qqq never seen"]
    probability = signature(review=tf.constant(texts))["probability"].numpy()
    assert np.all(np.isfinite(probability)) and probability[0] > 0.5 > probability[1]
    from_csv = model.signatures["predict_csv"](csv_rows=tf.constant([_csv_line(["1", t, ""]) for t in texts]))
    np.testing.assert_allclose(from_csv["probability"].numpy(), probability, rtol=1e-6)


@pytest.mark.slow
def test_a_users_lstm_builder_reads_the_sequence_and_learns(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))  # as a user's trainer image has their package installed
    result, model = _train(tmp_path, SEQUENCE_REVIEWS, "text_builders:lstm", epochs=2)
    assert result.model_builder == "text_builders:lstm" and result.epochs_run == 2
    assert result.best_val_metric > 0.85, result.history
    assert _fresh_auc(model, seed=3) > 0.85


# --- validation ----------------------------------------------------------------------------------


def test_an_empty_text_column_fails_validation_naming_it(tmp_path):
    rows = [[str(i), "", "y" if i % 2 else "n"] for i in range(10)]
    data = _write(tmp_path / "raw.csv", KNOWN, rows)
    with pytest.raises(DataValidationError) as caught:
        validate_data(data, KNOWN, tmp_path / "report.html", tmp_path / "summary.json")
    assert str(data) in str(caught.value)
    assert "column 'review': expected at most 50% null values, 100.0% null (10 of 10 rows)" in str(caught.value)
