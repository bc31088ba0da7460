"""The gate for every task on fixed arrays: the prior, the bounds (floor or ceiling by the task), the champion,
the slices, and the permutation importance's direction."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.common.specs.base import Binary, Multiclass, Regression, SliceGate
from components.evaluate.gate import ChampionScore, gate
from components.evaluate.importance import ImportanceSettings, permutation_importance
from components.evaluate.slices import slice_gaps, slice_metrics
from components.evaluate.task import GateSettings
from components.tasks import Task, task_for

BINARY = task_for(Binary())
MULTICLASS = task_for(Multiclass(("a", "b", "c")))
REGRESSION = task_for(Regression())
NO_CHAMPION = ChampionScore(version=None, note="no champion")
RNG = np.random.default_rng(11)

# 90 rows per task: the truth, what a model that learned it answers, and what one that learned nothing answers.
BINARY_TARGETS = np.array([0, 1] * 45)
MULTICLASS_TARGETS = np.array([0, 0, 1, 2, 0, 1] * 15)
REGRESSION_TARGETS = np.linspace(10.0, 100.0, 90)


def _learned(task: Task, targets: np.ndarray, noise: float) -> np.ndarray:
    if task is BINARY:
        return np.clip(0.5 + (targets - 0.5) * (1 - noise) + RNG.normal(0, 0.05, targets.size), 0.01, 0.99)
    if task is MULTICLASS:
        onehot = np.eye(3)[targets] * (1 - noise) + noise / 3
        return onehot / onehot.sum(axis=1, keepdims=True)
    return targets + RNG.normal(0, 30 * noise, targets.size)


CASES = [(BINARY, BINARY_TARGETS), (MULTICLASS, MULTICLASS_TARGETS), (REGRESSION, REGRESSION_TARGETS)]


def _decide(task: Task, targets: np.ndarray, predictions: np.ndarray, thresholds=None, champion=NO_CHAMPION, **options):
    """The gate with tolerance 0.01 and baseline margin 0.05, against the prior of these rows."""
    prior = task.metrics(targets, task.prior_predictions(targets))
    candidate = task.metrics(targets, predictions)
    return gate(task, candidate, thresholds or {}, 0.01, prior, 0.05, champion, **options)


@pytest.mark.parametrize(("task", "targets"), CASES, ids=lambda case: getattr(case, "kind", ""))
def test_a_model_that_learned_nothing_is_refused_by_every_task_with_no_bounds_at_all(task, targets):
    constant = _decide(task, targets, task.prior_predictions(targets))
    assert not constant.blessed
    assert any(r.startswith(f"FAIL: {task.headline_metric}") for r in constant.reasons), constant.reasons
    assert not any(r.endswith("(threshold)") for r in constant.reasons)  # nothing bounded: the prior refused it
    # The same rows, answered by a model that learned them, pass the same rule.
    learned = _decide(task, targets, _learned(task, targets, noise=0.2))
    assert learned.blessed, learned.reasons


@pytest.mark.parametrize(
    ("task", "targets", "thresholds", "expected"),
    [
        (BINARY, BINARY_TARGETS, {"roc_auc": 0.9, "log_loss": 0.1}, ["PASS: roc_auc", "FAIL: log_loss"]),
        (MULTICLASS, MULTICLASS_TARGETS, {"accuracy": 0.9, "log_loss": 0.05}, ["PASS: accuracy", "FAIL: log_loss"]),
        (
            REGRESSION,
            REGRESSION_TARGETS,
            {"r2": 0.99, "rmse": 100.0, "mae": 1.0},
            ["FAIL: r2", "PASS: rmse", "FAIL: mae"],
        ),
    ],
    ids=["binary", "multiclass", "regression"],
)
def test_each_bound_is_a_floor_or_a_ceiling_by_the_tasks_direction(task, targets, thresholds, expected):
    decision = _decide(task, targets, _learned(task, targets, noise=0.3), thresholds)
    lines = [r for r in decision.reasons if r.endswith("(threshold)")]
    assert [line.split(" ")[0] + " " + line.split(" ")[1] for line in lines] == expected
    for line, metric in zip(lines, thresholds):
        assert (" >= " if task.directions[metric] else " <= ") in line
    assert not decision.blessed


@pytest.mark.parametrize("task", [BINARY, MULTICLASS, REGRESSION], ids=lambda task: task.kind)
def test_a_threshold_naming_a_metric_the_task_lacks_is_refused_naming_the_tasks_metrics(task):
    targets = dict((t.kind, y) for t, y in CASES)[task.kind]
    wrong = "roc_auc" if task is not BINARY else "rmse"
    with pytest.raises(ValueError) as refused:
        _decide(task, targets, _learned(task, targets, 0.2), {wrong: 0.5})
    assert str(refused.value) == (
        f"threshold(s) ['{wrong}'] are not metrics of the {task.kind} task; it bounds {sorted(task.directions)}"
    )


def test_gate_settings_refuse_a_bound_that_is_not_a_number():
    with pytest.raises(ValueError, match="threshold 'r2' must be a finite number, got 'high'"):
        GateSettings({"r2": "high"})
    with pytest.raises(ValueError, match="threshold 'rmse' must be a finite number, got nan"):
        GateSettings({"rmse": float("nan")})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("baseline_margin", -0.1),
        ("baseline_margin", 1.0),
        ("baseline_margin", float("inf")),
        ("champion_tolerance", float("nan")),
        ("champion_tolerance", -0.01),
        ("champion_tolerance", 2),
        ("champion_tolerance", "0.1"),
        ("baseline_margin", True),
    ],
)
def test_gate_settings_refuse_a_margin_or_tolerance_that_would_switch_its_check_off(field, value):
    with pytest.raises(ValueError) as refused:
        GateSettings({}, **{field: value})
    assert str(refused.value) == f"{field}={value!r}: expected a finite number in [0, 1)"


def test_gate_settings_take_margins_and_tolerances_in_range():
    settings = GateSettings({}, champion_tolerance=0, baseline_margin=0.99)
    assert (settings.champion_tolerance, settings.baseline_margin) == (0, 0.99)
    with pytest.raises(ValueError, match="allow_unscored_champion='yes': expected true or false"):
        GateSettings({}, allow_unscored_champion="yes")


def test_the_prior_names_the_bounds_it_meets_for_each_task():
    targets = MULTICLASS_TARGETS
    prior = MULTICLASS.metrics(targets, MULTICLASS.prior_predictions(targets))
    met = MULTICLASS.bounds_met_by_prior({"accuracy": 0.4, "log_loss": 0.5}, prior)
    assert met == [f"accuracy >= 0.4 is met by the class frequencies ({prior.accuracy:.4f})"]
    prior = REGRESSION.metrics(REGRESSION_TARGETS, REGRESSION.prior_predictions(REGRESSION_TARGETS))
    met = REGRESSION.bounds_met_by_prior({"r2": 0.0, "rmse": 1000.0, "mae": 1.0}, prior)
    assert met[0] == "r2 >= 0 is met by the mean of the targets (0.0000)" and len(met) == 2
    assert met[1].startswith("rmse <= 1000 is met by the mean of the targets")


def test_multiclass_champion_comparison_on_log_loss_and_accuracy():
    targets = MULTICLASS_TARGETS
    champion = ChampionScore("4", metrics=MULTICLASS.metrics(targets, _learned(MULTICLASS, targets, 0.1)))
    worse = _decide(MULTICLASS, targets, _learned(MULTICLASS, targets, 0.5), champion=champion)
    assert not worse.blessed
    assert any(r.startswith("FAIL: log_loss") and "champion version 4 log_loss" in r for r in worse.reasons)
    assert any(r.startswith("PASS: accuracy") and "champion version 4 accuracy" in r for r in worse.reasons)
    same = _decide(MULTICLASS, targets, _learned(MULTICLASS, targets, 0.1), champion=champion)
    assert same.blessed and sum("champion version 4" in r for r in same.reasons) == 2


def test_regression_champion_tolerance_is_relative_to_the_champions_rmse():
    targets = REGRESSION_TARGETS
    champion_predictions = targets + np.where(np.arange(90) % 2, 10.0, -10.0)  # RMSE exactly 10
    champion = ChampionScore("2", metrics=REGRESSION.metrics(targets, champion_predictions))
    within = _decide(REGRESSION, targets, targets + np.where(np.arange(90) % 2, 10.09, -10.09), champion=champion)
    assert within.blessed, within.reasons
    assert "PASS: rmse 10.0900 <= 10.1000 (champion version 2 rmse 10 x (1 + 0.01))" in within.reasons
    beyond = _decide(REGRESSION, targets, targets + np.where(np.arange(90) % 2, 10.2, -10.2), champion=champion)
    assert not beyond.blessed and "FAIL: rmse 10.2000 <= 10.1000" in " ".join(beyond.reasons)


@pytest.mark.parametrize("task", [BINARY, MULTICLASS, REGRESSION], ids=lambda task: task.kind)
def test_an_unscorable_champion_fails_every_task_unless_waived(task):
    targets = dict((t.kind, y) for t, y in CASES)[task.kind]
    unscored = ChampionScore("3", problem="UnscorableOutputError: its signature answers ['probability']")
    refused = _decide(task, targets, _learned(task, targets, 0.2), champion=unscored)
    assert not refused.blessed
    assert any(r.startswith("FAIL: champion version 3 could not be scored") for r in refused.reasons)
    waived = _decide(task, targets, _learned(task, targets, 0.2), champion=unscored, allow_unscored_champion=True)
    assert waived.blessed and any(r.startswith("WAIVED: champion version 3") for r in waived.reasons)


def test_classification_reports_accuracy_against_the_majority_class_and_regression_does_not():
    for task, targets in CASES:
        decision = _decide(task, targets, _learned(task, targets, 0.2))
        info = [r for r in decision.reasons if r.startswith("INFO: accuracy")]
        assert len(info) == (0 if task is REGRESSION else 1)
        assert all("majority-class accuracy" in line and line.endswith("(not gated)") for line in info)


def test_regression_slices_are_gated_with_a_ceiling_on_rmse_and_a_gap_between_lowest_and_highest():
    targets = np.r_[REGRESSION_TARGETS[:40], np.full(40, 50.0)]
    predictions = np.r_[targets[:40] + np.where(np.arange(40) % 2, 2.0, -2.0), np.full(40, 50.0) + 8.0]
    areas = np.array(["north"] * 40 + ["south"] * 40)
    slices, skipped = slice_metrics(REGRESSION, targets, predictions, {"area": areas})
    assert skipped == {} and slices["area=south"].r2 is None  # constant targets: R² undefined, RMSE is not
    assert slices["area=north"].rmse == pytest.approx(2.0) and slices["area=south"].rmse == pytest.approx(8.0)
    [gap] = slice_gaps(REGRESSION, slices, ["area"]).values()
    assert (gap.best, gap.worst, gap.metric) == ("area=north", "area=south", "rmse") and gap.gap == pytest.approx(6.0)
    decision = _decide(
        REGRESSION, targets, predictions, slice_gate=SliceGate(bound=5.0, max_gap=4.0, columns=("area",)), slices=slices
    )
    assert not decision.blessed
    assert "PASS: slice area=north rmse 2.0000 <= 5.0000 (slice ceiling)" in decision.reasons
    assert "FAIL: slice area=south rmse 8.0000 <= 5.0000 (slice ceiling)" in decision.reasons
    assert (
        "FAIL: rmse gap 6.0000 across area <= 4.0000 (max gap): worst area=south 8.0000, best area=north 2.0000"
        in decision.reasons
    )


def test_multiclass_slices_are_gated_on_log_loss_and_a_one_class_slice_still_scores():
    targets = MULTICLASS_TARGETS[:60]
    predictions = np.r_[_learned(MULTICLASS, targets[:30], 0.1), _learned(MULTICLASS, targets[30:], 0.7)]
    slices, _ = slice_metrics(MULTICLASS, targets, predictions, {"site": np.array(["x"] * 30 + ["y"] * 30)})
    gate_on = SliceGate(bound=0.5, columns=("site",))
    decision = _decide(MULTICLASS, targets, predictions, slice_gate=gate_on, slices=slices)
    assert [r.split(" ")[0] for r in decision.reasons if r.startswith(("PASS: slice", "FAIL: slice"))] == [
        "PASS:",
        "FAIL:",
    ]
    assert all("log_loss" in r and "(slice ceiling)" in r for r in decision.reasons if " slice site=" in r)
    one_class, _ = slice_metrics(
        MULTICLASS,
        np.zeros(30, dtype=int),
        _learned(MULTICLASS, np.zeros(30, dtype=int), 0.1),
        {"site": np.array(["z"] * 30)},
    )
    assert MULTICLASS.headline_value(one_class["site=z"]) is not None


def _dense(x: np.ndarray, z: np.ndarray) -> dict[str, tf.Tensor]:
    return {"x": tf.constant(x), "z": tf.constant(z)}


def test_importance_is_how_much_worse_the_headline_gets_whichever_way_it_points():
    """RMSE (lower is better) rises when the column the model reads is shuffled: a positive importance."""
    x = np.linspace(-3, 3, 200)
    targets = 4.0 * x + 1.0
    regression = permutation_importance(
        lambda dense: 4.0 * dense["x"].numpy() + 1.0,
        _dense(x, RNG.normal(size=200)),
        targets,
        ["x", "z"],
        REGRESSION,
        ImportanceSettings(repeats=3),
    )
    assert list(regression) == ["x", "z"] and regression["x"].metric == "rmse"
    assert regression["x"].ci_low > 3.0  # shuffling x costs about its spread x 4 x sqrt(2) in RMSE
    assert regression["z"].mean == 0.0 and regression["z"].ci_low == regression["z"].ci_high == 0.0

    classes = (x > 0).astype(int) + (x > 1.5).astype(int)

    def softmax_of_x(dense):
        logits = np.stack([-dense["x"].numpy(), np.zeros(200), dense["x"].numpy() - 1.5], axis=1) * 3
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    multiclass = permutation_importance(
        softmax_of_x, _dense(x, np.zeros(200)), classes, ["z", "x"], MULTICLASS, ImportanceSettings(repeats=3)
    )
    assert list(multiclass) == ["x", "z"] and multiclass["x"].metric == "log_loss" and multiclass["x"].ci_low > 0.3


def test_a_declared_slice_gate_that_can_run_no_check_fails_naming_its_slices_and_why():
    """Every slice too small or one-class: the gate was declared and would check nothing, so it refuses."""
    targets = np.r_[np.zeros(20), np.ones(20), np.ones(40), BINARY_TARGETS[:12]].astype(int)
    predictions = _learned(BINARY, targets, 0.2)
    areas = np.array(["a"] * 40 + ["b"] * 40 + ["c"] * 12)
    slices, skipped = slice_metrics(BINARY, targets[40:], predictions[40:], {"area": areas[40:]})
    assert set(slices) == {"area=b"} and skipped == {"area=c": 12}  # b holds one class, c is too small
    strict = SliceGate(bound=0.6, max_gap=0.1, columns=("area",))
    decision = _decide(BINARY, targets, predictions, slice_gate=strict, slices=slices, skipped_slices=skipped)
    assert not decision.blessed
    [failure] = [r for r in decision.reasons if r.startswith("FAIL")]
    assert failure == (
        "FAIL: the slice gate on area could run no check: area: under 30 rows: area=c (12 rows); "
        "holds one class (roc_auc undefined): area=b"
    )
    optional = SliceGate(bound=0.6, max_gap=0.1, columns=("area",), required=False)
    waived = _decide(BINARY, targets, predictions, slice_gate=optional, slices=slices, skipped_slices=skipped)
    assert waived.blessed, waived.reasons
    assert any(
        r.startswith("INFO: the slice gate on area ran no check (") and r.endswith("not required")
        for r in waived.reasons
    )
    # One check that can run is enough: a measured, two-class slice gates the candidate again.
    measured, _ = slice_metrics(BINARY, targets[:40], predictions[:40], {"area": areas[:40]})
    decision = _decide(BINARY, targets, predictions, slice_gate=strict, slices={**slices, **measured})
    assert decision.blessed and not any("could run no check" in r for r in decision.reasons)


def test_a_gap_only_slice_gate_with_one_scored_slice_per_column_fails_saying_so():
    targets = REGRESSION_TARGETS[:60]
    slices, skipped = slice_metrics(REGRESSION, targets, targets + 1.0, {"site": np.array(["x"] * 60)})
    gap_only = SliceGate(max_gap=1.0, columns=("site",))
    decision = _decide(REGRESSION, targets, targets + 1.0, slice_gate=gap_only, slices=slices, skipped_slices=skipped)
    assert not decision.blessed
    assert "FAIL: the slice gate on site could run no check: site: one slice with a rmse, no gap" in decision.reasons
