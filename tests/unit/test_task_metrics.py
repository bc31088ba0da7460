"""Multiclass and regression metrics on fixed arrays, against sklearn and by hand; each task's prior and outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
)

from components.common.specs.base import Binary, Multiclass, Regression
from components.tasks import UnscorableOutputError, task_for

CLASSES = ("cat", "dog", "fox")
MULTICLASS = task_for(Multiclass(CLASSES))
REGRESSION = task_for(Regression())
BINARY = task_for(Binary())

# Eight rows of cats and dogs only: "fox" is a class of the spec that these rows lack.
TARGETS = np.array([0, 0, 0, 1, 1, 1, 1, 0])
PROBABILITIES = np.array(
    [
        [0.7, 0.2, 0.1],  # cat -> cat
        [0.6, 0.3, 0.1],  # cat -> cat
        [0.2, 0.7, 0.1],  # cat -> dog
        [0.1, 0.8, 0.1],  # dog -> dog
        [0.3, 0.6, 0.1],  # dog -> dog
        [0.5, 0.4, 0.1],  # dog -> cat
        [0.2, 0.2, 0.6],  # dog -> fox
        [0.9, 0.05, 0.05],  # cat -> cat
    ]
)
PREDICTED = PROBABILITIES.argmax(axis=1)


def test_multiclass_metrics_match_sklearn_with_a_class_absent_from_the_rows():
    metrics = MULTICLASS.metrics(TARGETS, PROBABILITIES)
    labels = [0, 1, 2]
    assert metrics.example_count == 8 and metrics.class_names == list(CLASSES)
    assert metrics.accuracy == pytest.approx(accuracy_score(TARGETS, PREDICTED)) == pytest.approx(5 / 8)
    assert metrics.log_loss == pytest.approx(log_loss(TARGETS, PROBABILITIES, labels=labels))
    true_class = PROBABILITIES[np.arange(8), TARGETS]
    assert metrics.log_loss == pytest.approx(-np.mean(np.log(true_class)))
    for average, value in (("macro", metrics.macro_f1), ("weighted", metrics.weighted_f1)):
        assert value == pytest.approx(f1_score(TARGETS, PREDICTED, labels=labels, average=average, zero_division=0))
    precision = precision_score(TARGETS, PREDICTED, labels=labels, average=None, zero_division=0)
    recall = recall_score(TARGETS, PREDICTED, labels=labels, average=None, zero_division=0)
    for index, name in enumerate(CLASSES):
        assert metrics.per_class[name].precision == pytest.approx(precision[index])
        assert metrics.per_class[name].recall == pytest.approx(recall[index])
    # By hand: cats 3 of 4 right (one called a dog); dogs 2 of 4 (one called a cat, one a fox); no fox at all.
    assert metrics.confusion_matrix == [[3, 1, 0], [1, 2, 1], [0, 0, 0]]
    assert metrics.per_class["cat"].precision == pytest.approx(3 / 4) and metrics.per_class["dog"].recall == 0.5
    assert metrics.per_class["fox"].support == 0 and metrics.per_class["fox"].precision == 0.0
    assert metrics.macro_f1 == pytest.approx((0.75 + 2 * (2 / 3 * 0.5) / (2 / 3 + 0.5) + 0.0) / 3)
    headline = metrics.headline()
    assert headline["precision.fox"] == 0.0 and headline["recall.dog"] == 0.5
    assert {"accuracy", "log_loss", "macro_f1", "weighted_f1", "example_count"} <= set(headline)


def test_multiclass_prior_is_the_class_frequencies_and_its_accuracy_the_majority_share():
    targets = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    prior = MULTICLASS.metrics(targets, MULTICLASS.prior_predictions(targets))
    frequencies = np.array([0.5, 0.3, 0.2])
    assert prior.accuracy == pytest.approx(0.5)
    assert prior.log_loss == pytest.approx(-np.sum(frequencies * np.log(frequencies)))
    # A class absent from the rows gets frequency 0 and the prior still scores.
    absent = MULTICLASS.prior_predictions(np.array([0, 1, 1, 0]))
    np.testing.assert_allclose(absent, np.tile([0.5, 0.5, 0.0], (4, 1)))


def test_regression_metrics_match_sklearn_and_are_right_by_hand():
    targets = np.array([3.0, -0.5, 2.0, 7.0])
    predictions = np.array([2.5, 0.0, 2.0, 8.0])
    metrics = REGRESSION.metrics(targets, predictions)
    assert metrics.rmse == pytest.approx(math.sqrt(mean_squared_error(targets, predictions)))
    assert metrics.rmse == pytest.approx(math.sqrt((0.25 + 0.25 + 0 + 1) / 4))
    assert metrics.mae == pytest.approx(mean_absolute_error(targets, predictions)) == pytest.approx(0.5)
    assert metrics.r2 == pytest.approx(r2_score(targets, predictions))
    assert metrics.mean_target == pytest.approx(2.875) and metrics.mean_prediction == pytest.approx(3.125)
    assert metrics.headline() == {
        "rmse": metrics.rmse,
        "mae": 0.5,
        "r2": metrics.r2,
        "mean_target": 2.875,
        "mean_prediction": 3.125,
        "example_count": 4.0,
    }


def test_r2_is_undefined_on_constant_targets_and_left_out_of_the_headline():
    metrics = REGRESSION.metrics(np.full(5, 4.0), np.array([4.0, 5.0, 3.0, 4.0, 4.0]))
    assert metrics.r2 is None and "r2" not in metrics.headline()
    assert metrics.rmse == pytest.approx(math.sqrt(2 / 5)) and metrics.headline()["rmse"] == metrics.rmse


def test_the_regression_prior_is_the_rows_mean_with_r2_zero_and_rmse_their_spread():
    targets = np.array([1.0, 2.0, 3.0, 10.0])
    prior = REGRESSION.metrics(targets, REGRESSION.prior_predictions(targets))
    assert prior.r2 == pytest.approx(0.0)
    assert prior.rmse == pytest.approx(np.std(targets))


def test_metric_inputs_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"\[rows, 3\] probabilities"):
        MULTICLASS.metrics(TARGETS, PROBABILITIES[:, :2])
    with pytest.raises(ValueError, match="equal-length"):
        REGRESSION.metrics(np.ones(3), np.ones(4))


def test_each_task_takes_only_its_own_serving_outputs():
    ok = MULTICLASS.predictions({"probabilities": PROBABILITIES.astype(np.float32), "class": np.array([b"cat"] * 8)}, 8)
    np.testing.assert_allclose(ok.sum(axis=1), 1.0)
    with pytest.raises(UnscorableOutputError, match="not 'probabilities'"):
        MULTICLASS.predictions({"probability": np.full(8, 0.5)}, 8)
    with pytest.raises(UnscorableOutputError, match=r"shape \(8, 2\), expected \(8, 3\)"):
        MULTICLASS.predictions({"probabilities": PROBABILITIES[:, :2]}, 8)
    with pytest.raises(UnscorableOutputError, match="do not sum to 1"):
        MULTICLASS.predictions({"probabilities": PROBABILITIES * 2}, 8)
    with pytest.raises(UnscorableOutputError, match="not finite"):
        REGRESSION.predictions({"prediction": np.array([1.0, np.nan])}, 2)
    with pytest.raises(UnscorableOutputError, match="outside"):
        BINARY.predictions({"probability": np.array([0.5, 1.5])}, 2)


def test_multiclass_targets_are_class_ids_in_the_spec_order_and_others_are_refused():
    np.testing.assert_array_equal(MULTICLASS.targets(np.array([b"fox", b"cat", b"dog"])), [2, 0, 1])
    with pytest.raises(ValueError, match=r"\['wolf'\] are not among the spec's classes \['cat', 'dog', 'fox'\]"):
        MULTICLASS.targets(np.array([b"cat", b"wolf"]))
    with pytest.raises(ValueError, match="not finite"):
        REGRESSION.targets(np.array([1.0, np.nan]))


@pytest.mark.parametrize(
    ("task", "targets", "predictions"),
    [
        (BINARY, np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.5, 0.9])),
        (BINARY, np.ones(4, dtype=int), np.array([0.2, 0.7, 0.4, 0.5])),
        (MULTICLASS, TARGETS, PROBABILITIES),
        (REGRESSION, np.array([3.0, -0.5, 2.0, 7.0]), np.array([2.5, 0.0, 2.0, 8.0])),
    ],
    ids=["binary", "binary-one-class", "multiclass", "regression"],
)
def test_the_headline_score_alone_is_the_full_metrics_headline(task, targets, predictions):
    """Permutation importance re-scores with `headline_score`; it must be the gate's headline figure."""
    assert task.headline_score(targets, predictions) == task.headline_value(task.metrics(targets, predictions))
