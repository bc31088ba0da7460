"""Evaluate writes no slice under the spec's min_slice_rows and still gates it (evaluate/shown_slices.py)."""

from __future__ import annotations

import numpy as np

from components.common.specs.base import Regression, SliceGate
from components.evaluate.gate import ChampionScore, gate
from components.evaluate.shown_slices import shown_slices
from components.evaluate.slices import slice_gaps, slice_metrics
from components.tasks import task_for

REGRESSION = task_for(Regression())
HIDDEN = "(a slice of under 45 rows)"


def _slices():
    """area=a: 40 rows, off by 10 (measured, under 45); area=ab: 60 rows, off by 1; area=c: 12 rows (counted only)."""
    areas = np.array(["a"] * 40 + ["ab"] * 60 + ["c"] * 12)
    targets = np.linspace(10.0, 100.0, areas.size)
    predictions = targets + np.where(areas == "a", 10.0, 1.0)
    slices, skipped = slice_metrics(REGRESSION, targets, predictions, {"area": areas})
    return targets, predictions, slices, skipped


def test_a_small_measured_slice_is_still_gated_and_never_named_in_what_is_written():
    targets, predictions, slices, skipped = _slices()
    assert set(slices) == {"area=a", "area=ab"} and skipped == {"area=c": 12}
    gaps = slice_gaps(REGRESSION, slices, ("area",))
    shown = shown_slices(slices, skipped, gaps, min_rows=45)

    assert shown.hidden == ("area=a", "area=c")
    assert set(shown.slices) == {"area=ab"} and shown.skipped == {}
    assert shown.note == "2 slice(s) under min_slice_rows (45 eval rows) not shown"
    # The gap is written with its value; the small slice at one end of it is not named.
    [(column, gap)] = shown.gaps.items()
    assert column == "area" and gap.gap == gaps["area"].gap and {gap.worst, gap.best} == {HIDDEN, "area=ab"}

    prior = REGRESSION.metrics(targets, REGRESSION.prior_predictions(targets))
    decision = gate(
        REGRESSION,
        REGRESSION.metrics(targets, predictions),
        {},
        0.01,
        prior,
        0.05,
        ChampionScore(version=None, note="no champion"),
        slice_gate=SliceGate(bound=5.0, columns=("area",)),
        slices=slices,
        skipped_slices=skipped,
    )
    # The 40-row slice fails its bound exactly as before: hiding its name does not stop gating it.
    assert not decision.blessed
    [failure] = [reason for reason in decision.reasons if reason.startswith("FAIL")]
    assert "slice area=a rmse" in failure
    written = [shown.unnamed(reason) for reason in decision.reasons]
    assert any(reason.startswith("FAIL") and f"slice {HIDDEN} rmse" in reason for reason in written)
    text = "\n".join(written)
    # "area=ab" holds "area=a": it stays named, whole; no line names area=a or area=c.
    assert "slice area=ab rmse" in text
    assert "area=a " not in text and "area=c" not in text


def test_with_every_slice_large_enough_nothing_is_hidden_and_the_text_is_unchanged():
    _, _, slices, skipped = _slices()
    shown = shown_slices(slices, skipped, slice_gaps(REGRESSION, slices, ("area",)), min_rows=1)
    assert shown.hidden == () and shown.note is None
    assert shown.slices == slices and shown.skipped == skipped
    assert shown.unnamed("worst area=a 10.0, count area=c (12 rows)") == "worst area=a 10.0, count area=c (12 rows)"
