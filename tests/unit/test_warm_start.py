"""Warm start from the champion: id rows moved by token, compatibility, and fewer epochs to the champion's metric."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from shop_spec import SPEC

from components.common.specs.base import Categorical
from components.train.remap import IdRows, WarmStartError, remap_rows, row_map
from components.train.task import Hyperparameters, train_model
from components.train.warm_start import BUILD_RECORD, Champion, check_mode
from components.transform.task import run_transform

HYPERPARAMETERS = Hyperparameters(epochs=3, batch_size=64, hidden_units=(8,), early_stopping_patience=3)


def test_rows_follow_their_tokens_new_ones_start_fresh_dropped_ones_go():
    old = IdRows(rows=4 + 2, offset=1, tokens=(b"red", b"blue", b"green"))  # padding, 3 tokens, 2 OOV buckets
    new = IdRows(rows=4 + 2, offset=1, tokens=(b"blue", b"purple", b"red"))
    mapping = row_map(old, new, "colour_tokens")
    assert mapping == [0, 2, None, 1, 4, 5]
    champion = np.arange(6 * 2, dtype="float32").reshape(6, 2)  # row r holds [2r, 2r + 1]
    fresh = np.full((6, 2), -1.0, dtype="float32")
    value = remap_rows(champion, fresh, [("colour_tokens", 6)], [("colour_tokens", 6)], {"colour_tokens": mapping})
    np.testing.assert_array_equal(value[1], champion[2])  # blue
    np.testing.assert_array_equal(value[3], champion[1])  # red
    np.testing.assert_array_equal(value[2], fresh[2])  # purple: new, as initialised
    np.testing.assert_array_equal(value[[0, 4, 5]], champion[[0, 4, 5]])  # padding and OOV buckets by position
    assert not any(np.array_equal(row, champion[3]) for row in value)  # green: dropped


def test_a_kernel_over_several_parts_moves_only_the_id_rows():
    """The wide path's kernel: one-hot ids of a feature, then a number, in one axis."""
    mapping = row_map(IdRows(3, 0, (b"a", b"b")), IdRows(4, 0, (b"c", b"b", b"a")), "f")
    assert mapping == [None, 1, 0, 2]
    champion = np.array([[1.0], [2.0], [3.0], [9.0]])  # a, b, OOV, then the number's row
    fresh = np.zeros((5, 1))
    value = remap_rows(champion, fresh, [("f", 3), (None, 1)], [("f", 4), (None, 1)], {"f": mapping})
    np.testing.assert_array_equal(value[:, 0], [0.0, 2.0, 1.0, 3.0, 9.0])


def test_ids_without_a_vocabulary_carry_by_position_only_at_the_same_count():
    assert row_map(IdRows(24), IdRows(24), "hour") == list(range(24))
    with pytest.raises(WarmStartError, match="'bucket' has 10 ids in the champion and 12 here"):
        row_map(IdRows(10), IdRows(12), "bucket")
    with pytest.raises(WarmStartError, match="out-of-vocabulary"):
        row_map(IdRows(3, 0, (b"a", b"b")), IdRows(5, 0, (b"a", b"b")), "f")
    with pytest.raises(WarmStartError, match=r"shape \[3, 2\] in the champion, \[3, 4\] here"):
        remap_rows(np.zeros((3, 2)), np.zeros((3, 4)), [("f", 3)], [("f", 3)], {"f": [0, 1, 2]})
    with pytest.raises(ValueError, match="warm_start 'sometimes'"):
        check_mode("sometimes")


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SPEC.column_names)
        writer.writerows(rows)
    return path


def _shop_rows(count: int, seed: int, colours: list[str]) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        basket, colour = rng.uniform(0, 10), str(rng.choice(colours))
        score = basket / 10 + (0.4 if colour == "red" else 0) + rng.normal(0, 0.15)
        rows.append([f"{basket:.2f}", colour, "yes" if score > 0.7 else "no"])
    return rows


def _transformed(root: Path, rows: list[list[str]], spec=SPEC) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    run_transform(str(_write(root / "shop.csv", rows)), spec, root / "graph", root / "examples", root / "eval.csv")
    return root


def _embedding(model_dir: Path, tokens: list[str]) -> dict[str, np.ndarray]:
    """Each token's row of the colour embedding of an exported model."""
    table = _colour_table(tf.saved_model.load(str(model_dir)))
    vocabulary = (model_dir / "assets" / "colour").read_text().split("\n")
    return {token: table[vocabulary.index(token)] for token in tokens}


def _colour_table(module) -> np.ndarray:
    from components.train.remap import variables_by_path

    (table,) = [v.numpy() for v in variables_by_path(module.model).values() if v.name.startswith("colour_id_embedding")]
    return table


@pytest.fixture(scope="module")
def champion(tmp_path_factory) -> Champion:
    root = _transformed(tmp_path_factory.mktemp("champion"), _shop_rows(600, 1, ["red", "blue", "green"]))
    train_model(SPEC, root / "graph", root / "examples", root / "model", HYPERPARAMETERS)
    return Champion("7", root / "model")


@pytest.mark.slow
def test_a_warm_start_carries_each_embedding_row_to_its_token(champion, tmp_path):
    # Another span: purple is new, green gone, and blue now the most frequent (so its id changes).
    rows = _shop_rows(600, 2, ["blue", "blue", "blue", "red", "purple"])
    root = _transformed(tmp_path, rows)
    zero = dataclasses.replace(HYPERPARAMETERS, epochs=1, learning_rate=1e-12)  # the weights stay where they start
    result = train_model(SPEC, root / "graph", root / "examples", root / "model", zero, champion=champion)
    assert result.warm_started_from == "7"
    assert result.warm_start_note.startswith("warm-started from version 7; embedding rows remapped by token: ")
    assert "colour_id 2 carried, 1 new, 1 dropped" in result.warm_start_note
    before, after = _embedding(champion.model_dir, ["red", "blue"]), _embedding(root / "model", ["red", "blue"])
    for token in ("red", "blue"):
        np.testing.assert_allclose(after[token], before[token], atol=1e-6)
    record = json.loads((root / "model" / BUILD_RECORD).read_text())
    assert record["model_builder"] == "wide_and_deep" and record["vocabularies"]["colour_id"]["asset"] == "colour"


@pytest.mark.slow
def test_another_builder_or_other_features_fall_back_with_the_reason(champion, tmp_path):
    root = _transformed(tmp_path, _shop_rows(300, 3, ["red", "blue"]))
    one_epoch = dataclasses.replace(HYPERPARAMETERS, epochs=1)
    mlp = train_model(SPEC, root / "graph", root / "examples", root / "mlp", one_epoch, "mlp", champion=champion)
    assert mlp.warm_started_from == ""
    assert mlp.warm_start_note == (
        "trained from scratch: champion version 7 was built with builder 'wide_and_deep', this run uses 'mlp'"
    )
    other = dataclasses.replace(SPEC, features=(Categorical("colour"),))
    again = _transformed(tmp_path / "other", _shop_rows(300, 3, ["red", "blue"]), other)
    fewer = train_model(other, again / "graph", again / "examples", again / "model", one_epoch, champion=champion)
    assert fewer.warm_started_from == ""
    assert fewer.warm_start_note.startswith("trained from scratch: champion version 7 was built on other features")
    assert "basket_z" in fewer.warm_start_note
    # Other vocabulary sizes can change an embedding's width (components.train.builders.layers): no fit.
    narrower = train_model(SPEC, root / "graph", root / "examples", root / "model", one_epoch, champion=champion)
    assert narrower.warm_start_note == (
        "trained from scratch: champion version 7: weight colour_id_embedding/embeddings: "
        "shape [4, 4] in the champion, [3, 3] here"
    )
    # The champion's own data, wider hidden layers: the same features, weights of other shapes.
    wider, data = dataclasses.replace(one_epoch, hidden_units=(16,)), champion.model_dir.parent
    shapes = train_model(SPEC, data / "graph", data / "examples", tmp_path / "wide", wider, champion=champion)
    assert shapes.warm_started_from == ""
    assert shapes.warm_start_note.startswith("trained from scratch: champion version 7: weight dense")
    assert re.search(r"/kernel: shape \[(\d+), 8\] in the champion, \[\1, 16\] here$", shapes.warm_start_note)
