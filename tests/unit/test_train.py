"""Training on tf.Transform output and the raw-in serving SavedModel it exports."""

import csv

import numpy as np
import pytest
import tensorflow as tf
from shop_spec import SPEC
from sklearn.metrics import roc_auc_score

from components.train.input import Split
from components.train.task import Hyperparameters, train_model
from components.transform.task import run_transform

pytestmark = pytest.mark.slow


def _rows(count: int, seed: int) -> list[list[str]]:
    """shop_spec's rows with 5% of the baskets missing."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        basket = rng.uniform(0, 10)
        colour = rng.choice(["red", "blue", "green"])
        score = basket / 10 + (0.4 if colour == "red" else 0) + rng.normal(0, 0.15)
        rows.append(["" if rng.random() < 0.05 else f"{basket:.2f}", colour, "yes" if score > 0.7 else "no"])
    return rows


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = root / "shop.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SPEC.column_names)
        writer.writerows(_rows(1200, seed=1))
    run_transform(str(data), SPEC, root / "graph", root / "examples", root / "eval.csv")
    hyperparameters = Hyperparameters(epochs=8, batch_size=64, hidden_units=(16,), early_stopping_patience=2)
    result = train_model(SPEC, root / "graph", root / "examples", root / "model", hyperparameters)
    return root, result


def _predict_csv(model, rows: list[list[str]]) -> np.ndarray:
    lines = [",".join(row) for row in rows]
    return model.signatures["predict_csv"](csv_rows=tf.constant(lines))["probability"].numpy()


def test_training_reports_what_it_did(exported):
    _, result = exported
    assert result.device == "CPU" and result.replicas == 1 and not result.mixed_precision
    assert 1 <= result.epochs_run <= 8
    assert len(result.history["val_auc"]) == result.epochs_run
    assert result.early_stopping_metric == "val_auc" and result.best_val_metric > 0.85


def test_served_model_learns_the_signal_from_raw_rows(exported):
    root, _ = exported
    model = tf.saved_model.load(str(root / "model"))
    fresh = _rows(400, seed=2)
    probabilities = _predict_csv(model, fresh)
    labels = [int(row[2] == "yes") for row in fresh]
    assert probabilities.shape == (400,)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert roc_auc_score(labels, probabilities) > 0.85


def test_feature_signature_agrees_with_csv_signature_and_ignores_row_order(exported):
    root, _ = exported
    model = tf.saved_model.load(str(root / "model"))
    rows = [["9.5", "red", ""], ["0.5", "blue", ""], ["", "green", ""], ["5.0", "purple", ""]]
    from_csv = _predict_csv(model, rows)
    from_features = model.signatures["serving_default"](
        basket=tf.constant([9.5, 0.5, np.nan, 5.0], tf.float64),
        colour=tf.constant(["red", "blue", "green", "purple"]),
    )["probability"].numpy()
    np.testing.assert_allclose(from_csv, from_features, rtol=1e-6)
    np.testing.assert_allclose(_predict_csv(model, rows[::-1]), from_csv[::-1], rtol=1e-6)
    # behaviour: a big red basket scores higher than a small blue one
    assert from_csv[0] > from_csv[1]


def _epochs(dataset: tf.data.Dataset, count: int) -> list[list[list[int]]]:
    return [[batch[1].numpy().tolist() for batch in dataset] for _ in range(count)]


def test_shuffled_batches_cover_every_row_once_per_epoch_in_a_new_order_drawn_from_the_seed():
    split = Split({"x": np.arange(10, dtype=np.float32) * 2}, np.arange(10))
    dataset = split.shuffled_batches(["x"], 4, seed=7)
    assert dataset.cardinality() == 3
    epochs = _epochs(dataset, 3)
    for batches in epochs:
        assert [len(batch) for batch in batches] == [4, 4, 2]
        assert sorted(sum(batches, [])) == list(range(10))
    assert epochs[0] != epochs[1] != epochs[2]
    assert _epochs(split.shuffled_batches(["x"], 4, seed=7), 3) == epochs  # a rerun: the same epochs
    assert _epochs(split.shuffled_batches(["x"], 4, seed=8), 1)[0] != epochs[0]
    features, labels = next(iter(dataset))
    np.testing.assert_array_equal(features["x"].numpy(), labels.numpy() * 2)  # rows gathered whole
    assert _epochs(split.batches(["x"], 4), 1)[0] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_the_same_transform_output_and_seed_train_the_same_model_bit_for_bit(exported, tmp_path):
    """The examples' fixed order, the seed and deterministic ops: training itself is exact."""
    root, first = exported
    hyperparameters = Hyperparameters(epochs=8, batch_size=64, hidden_units=(16,), early_stopping_patience=2)
    second = train_model(SPEC, root / "graph", root / "examples", tmp_path / "model", hyperparameters)
    assert second.history == first.history
    rows = _rows(50, seed=3)
    np.testing.assert_array_equal(
        _predict_csv(tf.saved_model.load(str(tmp_path / "model")), rows),
        _predict_csv(tf.saved_model.load(str(root / "model")), rows),
    )


def test_a_second_transform_of_the_same_data_trains_the_same_model_to_float32_round_off(exported, tmp_path):
    """Beam's file order does not matter. Not bit for bit: tf.Transform sums its means and variances in the
    order Beam's bundles arrive, so their last float32 bit may differ (seen in CI: 2e-7 in one epoch's loss);
    a different shuffle, split or initialisation would differ by far more than the tolerance."""
    root, first = exported
    again = tmp_path / "again"
    run_transform(str(root / "shop.csv"), SPEC, again / "graph", again / "examples", again / "eval.csv")
    hyperparameters = Hyperparameters(epochs=8, batch_size=64, hidden_units=(16,), early_stopping_patience=2)
    second = train_model(SPEC, again / "graph", again / "examples", again / "model", hyperparameters)
    assert second.history.keys() == first.history.keys()
    for metric, curve in first.history.items():
        assert second.history[metric] == pytest.approx(curve, rel=1e-5, abs=0), metric
    rows = _rows(50, seed=3)
    np.testing.assert_allclose(
        _predict_csv(tf.saved_model.load(str(again / "model")), rows),
        _predict_csv(tf.saved_model.load(str(root / "model")), rows),
        rtol=1e-5,
    )


def test_a_builder_that_does_not_import_stops_train_before_any_training(exported, tmp_path):
    from components.train.builders import BuilderError

    root, _ = exported
    with pytest.raises(
        BuilderError, match="'no_such_package.models:build': cannot import module 'no_such_package.models'"
    ):
        train_model(
            SPEC,
            root / "graph",
            root / "examples",
            tmp_path / "model",
            Hyperparameters(epochs=1),
            "no_such_package.models:build",
        )
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("train_rows", "batch_size", "learning_rate"),
    [
        (100, 32, 0.003),
        (1_000, 64, 0.003),
        (3_500, 256, 0.01 * 0.125**0.5),
        (10_376, 1024, 0.01 * 0.5**0.5),
        (700_000, 2048, 0.01),
    ],
)
def test_a_batch_size_and_learning_rate_left_at_zero_are_chosen_for_the_rows(train_rows, batch_size, learning_rate):
    chosen = Hyperparameters(epochs=3).for_rows(train_rows)
    assert (chosen.batch_size, chosen.epochs) == (batch_size, 3)
    assert chosen.learning_rate == pytest.approx(learning_rate)
    assert train_rows < 8 * 32 or train_rows // chosen.batch_size >= 8, "at least 8 steps per epoch below the cap"
    given = Hyperparameters(batch_size=100, learning_rate=0.02).for_rows(train_rows)
    assert (given.batch_size, given.learning_rate) == (100, 0.02)
