"""Warm start from the champion: id rows moved by token, compatibility, and fewer epochs to the champion's metric."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from shop_spec import SPEC

from components.common.specs.base import Categorical
from components.train.remap import IdRows, WarmStartError, remap_rows, row_map
from components.train.task import Hyperparameters, train_model
from components.train.warm_start import BUILD_RECORD, Champion, check_mode
from components.transform.task import run_transform

HYPERPARAMETERS = Hyperparameters(epochs=3, batch_size=64, hidden_units=(8,), early_stopping_patience=3)
# The next-span test: rows a span, and epochs each of its three runs trains (no early stopping).
SPAN_ROWS, SPAN_EPOCHS = 1500, 6


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


@pytest.fixture(scope="module")
def two_colours(tmp_path_factory) -> Path:
    """A span with only red and blue: green (the champion's) dropped, one id fewer than the champion's."""
    return _transformed(tmp_path_factory.mktemp("two-colours"), _shop_rows(300, 3, ["red", "blue"]))


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
    assert record["embedding_widths"] == {"colour_id": 4}


@pytest.mark.slow
def test_a_smaller_vocabulary_keeps_the_champions_embedding_width(champion, two_colours, tmp_path):
    """Two colours and an OOV bucket would get width 3 (components.train.builders.layers); the champion's 4 carries."""
    one_epoch = dataclasses.replace(HYPERPARAMETERS, epochs=1)
    root, model = two_colours, tmp_path / "model"
    result = train_model(SPEC, root / "graph", root / "examples", model, one_epoch, champion=champion)
    assert result.warm_started_from == "7"
    assert "colour_id 2 carried, 0 new, 1 dropped" in result.warm_start_note
    assert _colour_table(tf.saved_model.load(str(model))).shape == (3, 4)
    assert json.loads((model / BUILD_RECORD).read_text())["embedding_widths"] == {"colour_id": 4}


@pytest.mark.slow
def test_another_builder_or_other_features_fall_back_with_the_reason(champion, two_colours, tmp_path):
    root = two_colours
    one_epoch = dataclasses.replace(HYPERPARAMETERS, epochs=1)
    mlp = train_model(SPEC, root / "graph", root / "examples", tmp_path / "mlp", one_epoch, "mlp", champion=champion)
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
    # A champion that recorded no embedding widths (pushed before they were): the width follows the smaller
    # vocabulary here (components.train.builders.layers), and that cannot be carried.
    unrecorded = tmp_path / "unrecorded"
    shutil.copytree(champion.model_dir, unrecorded)
    built = json.loads((unrecorded / BUILD_RECORD).read_text())
    (unrecorded / BUILD_RECORD).write_text(json.dumps({k: v for k, v in built.items() if k != "embedding_widths"}))
    narrower = train_model(
        SPEC, root / "graph", root / "examples", tmp_path / "model", one_epoch, champion=Champion("7", unrecorded)
    )
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


def test_make_runs_warm_start_reaches_the_pipeline_argument():
    from components.runs.settings import WARM_STARTS, Settings
    from components.train.warm_start import MODES
    from pipelines.arguments import Overrides, pipeline_arguments

    assert WARM_STARTS == MODES
    env = {"DATASET": "mlc_churn"}
    assert pipeline_arguments(Settings.from_env(env))["warm_start"] == "auto"
    scratch = Settings.from_env({**env, "WARM_START": "none"})
    assert pipeline_arguments(scratch)["warm_start"] == "none"
    assert pipeline_arguments(scratch, Overrides(warm_start="auto"))["warm_start"] == "auto"
    with pytest.raises(ValueError, match=r"WARM_START must be one of \['auto', 'none'\], got 'sometimes'"):
        Settings.from_env({**env, "WARM_START": "sometimes"})


def test_the_pipeline_hands_warm_start_and_the_model_name_to_train():
    from kfp import compiler

    from pipelines.training_pipeline import build_training_pipeline

    path = Path(tempfile.mkdtemp(prefix="warm-start-compile-")) / "pipeline.yaml"
    compiler.Compiler().compile(build_training_pipeline(), str(path))
    compiled = next(yaml.safe_load_all(path.read_text()))
    assert compiled["root"]["inputDefinitions"]["parameters"]["warm_start"]["defaultValue"] == "auto"
    train = compiled["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert train["warm_start"] == {"componentInputParameter": "warm_start"}
    assert train["model_name"] == {"componentInputParameter": "model_name"}


def _register_champion(tracking_uri: str, model_dir: Path, store: Path) -> str:
    """The champion as push leaves it: files under the store with their manifest, a version tagged with
    where they are and the manifest's digest, the alias on it."""
    from components.common import storage, tracking
    from components.common.manifest import manifest_digest
    from components.train.warm_start import MANIFEST_DIGEST_TAG

    checksums = storage.upload_dir(model_dir, str(store / "v1"))
    client = tracking.client(tracking_uri)
    client.create_registered_model("churn")
    tags = {tracking.STORE_URI_TAG: str(store / "v1"), MANIFEST_DIGEST_TAG: manifest_digest(checksums)}
    version = client.create_model_version("churn", str(store / "v1"), tags=tags)
    client.set_registered_model_alias("churn", tracking.CHAMPION_ALIAS, version.version)
    return str(version.version)


def _first_epoch_reaching(curve: list[float], target: float) -> int | None:
    return next((epoch + 1 for epoch, value in enumerate(curve) if value >= target), None)


@pytest.mark.slow
@pytest.mark.acceptance
def test_a_warm_started_run_on_the_next_span_reaches_the_champions_metric_in_fewer_epochs(
    tmp_path, tmp_mlflow_uri, capsys
):
    """mlc_churn's rows as two spans: the champion trained on the first, then the second trained cold and
    warm. The target is the champion's best validation ROC AUC less the gate's default tolerance (0.01).
    One state is only in the first span and another only in the second: their rows are dropped and new."""
    from components.common.specs import get_spec
    from components.train.warm_start import start
    from pipelines.datasets import materialize_dataset

    spec = get_spec("mlc_churn")
    source = materialize_dataset("mlc_churn", tmp_path / "mlc_churn.csv")
    header, *rows = Path(source).read_text().splitlines(keepends=True)
    state = header.strip().split(",").index("state")
    halves = ((rows[:SPAN_ROWS], "WY"), (rows[SPAN_ROWS : 2 * SPAN_ROWS], "CA"))  # without that state
    spans = []
    for index, (half, left_out) in enumerate(halves):
        root = tmp_path / f"span-{index}"
        root.mkdir()
        (root / "data.csv").write_text(header + "".join(row for row in half if row.split(",")[state] != left_out))
        run_transform(str(root / "data.csv"), spec, root / "graph", root / "examples", root / "eval.csv")
        spans.append(root)
    hyperparameters = Hyperparameters(epochs=SPAN_EPOCHS, early_stopping_patience=SPAN_EPOCHS)
    first, second = spans
    champion_run = train_model(spec, first / "graph", first / "examples", first / "model", hyperparameters)
    number = _register_champion(tmp_mlflow_uri, first / "model", tmp_path / "store")
    target = champion_run.best_val_metric - 0.01
    cold = train_model(spec, second / "graph", second / "examples", second / "cold", hyperparameters)
    champion = start("auto", tmp_mlflow_uri, "churn", tmp_path / "scratch")
    assert isinstance(champion, Champion) and champion.version == number
    capsys.readouterr()
    warm = train_model(spec, second / "graph", second / "examples", second / "warm", hyperparameters, champion=champion)
    out = capsys.readouterr().out
    assert f"warm-started from version {number}; embedding rows remapped by token: " in out
    assert re.search(r"state_id \d+ carried, 1 new, 1 dropped", out), out
    assert warm.warm_started_from == number and cold.warm_started_from == ""
    warm_epochs = _first_epoch_reaching(warm.history["val_auc"], target)
    cold_epochs = _first_epoch_reaching(cold.history["val_auc"], target)
    print(f"target val_auc {target:.4f}: warm {warm_epochs} epoch(s) {warm.history['val_auc']}, "
          f"cold {cold_epochs} epoch(s) {cold.history['val_auc']}")  # fmt: skip
    assert warm_epochs is not None
    assert cold_epochs is None or warm_epochs < cold_epochs


def test_the_run_summary_says_how_train_started():
    from pipelines.summary import RunSummary

    fields = dict(mlflow_run_id="r", status="FINISHED", rows_validated=10, metrics={}, blessed=None,
                  model_version=None, store_uri=None, champion_decision=None, error=None)  # fmt: skip
    line = "warm-started from version 3; embedding rows remapped by token: colour_id 2 carried, 1 new, 1 dropped"
    assert f"train           {line}" in RunSummary(**fields, started_from=line).render().splitlines()
    assert not any(row.startswith("train ") for row in RunSummary(**fields).render().splitlines())
