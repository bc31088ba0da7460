"""The blessing gate: absolute bounds, the prior, the champion and the spec's slice bounds, on the same rows.

It fails closed. A candidate is blessed only when every check it can run passes *and* every check it
should run could be run: a champion that exists but could not be fetched, verified or scored is a
failed check that names the version and the error, never a reason to fall back to the thresholds
alone. `allow_unscored_champion` (a logged pipeline parameter, for a deliberate change of the data's
columns) turns that one failure into a waiver that the decision still states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from components.common.specs.base import GateThresholds, SliceGate
from components.evaluate.metrics import BinaryMetrics
from components.evaluate.slices import MIN_SLICE_EXAMPLES, SliceGap, column_slices, slice_gaps

# The gate's absolute bounds are the spec's own type, so a spec's defaults pass straight in.
Thresholds = GateThresholds
# A bound below zero is switched off (e.g. `--min-roc-auc off` on the command line).
DISABLED = -1.0


@dataclass(frozen=True)
class Prior:
    """What knowing nothing but the label's base rate achieves on the evaluated rows.

    The constant predictor of the rows' own positive rate has the lowest log loss any constant can
    reach there, the majority class's accuracy, and a ROC AUC of exactly 0.5.
    """

    positive_rate: float
    log_loss: float
    accuracy: float
    roc_auc: float = 0.5

    @classmethod
    def of(cls, labels: np.ndarray) -> Prior:
        rate = float(np.mean(labels))
        clipped = min(max(rate, 1e-15), 1 - 1e-15)
        entropy = -(rate * math.log(clipped) + (1 - rate) * math.log(1 - clipped))
        return cls(positive_rate=rate, log_loss=entropy, accuracy=max(rate, 1 - rate))

    def met_by(self, thresholds: Thresholds) -> list[str]:
        """The absolute bounds that this prior itself passes: a spec's defaults must not contain any."""
        met = []
        if 0 <= thresholds.min_roc_auc <= self.roc_auc:
            met.append(f"min_roc_auc {thresholds.min_roc_auc:g} <= {self.roc_auc:g}")
        if 0 <= thresholds.min_accuracy <= self.accuracy:
            met.append(f"min_accuracy {thresholds.min_accuracy:g} <= majority-class accuracy {self.accuracy:.4f}")
        if thresholds.max_log_loss >= self.log_loss:
            met.append(f"max_log_loss {thresholds.max_log_loss:g} >= base-rate log loss {self.log_loss:.4f}")
        return met


@dataclass(frozen=True)
class ChampionScore:
    """What evaluate learned of the registry's champion on the candidate's rows.

    `version` is None when the model has no champion yet (the first push). `problem`, when set, says
    why an existing champion could not be compared with (fetching, verifying or scoring failed).
    """

    version: str | None
    metrics: BinaryMetrics | None = None
    problem: str | None = None
    note: str = ""


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate is blessed, with one line per check (value, bound, PASS/FAIL/OFF) or note."""

    blessed: bool
    reasons: list[str] = field(default_factory=list)


def gate(
    candidate: BinaryMetrics,
    thresholds: Thresholds,
    tolerance: float,
    prior: Prior,
    baseline_margin: float,
    champion: ChampionScore,
    allow_unscored_champion: bool = False,
    notes: tuple[str, ...] = (),
    slice_gate: SliceGate | None = None,
    slices: Mapping[str, BinaryMetrics] | None = None,
) -> GateDecision:
    """Bless only if every check passes.

    - Absolute bounds from the spec or the run (a negative bound is off).
    - The prior: ROC AUC at least 0.5 + `baseline_margin`, and log loss at least `baseline_margin`
      (a fraction) below the base-rate predictor's, so a model that learned nothing is never blessed,
      whatever the bounds say. Accuracy is reported against the majority class but not gated: on
      imbalanced data a useful model often keeps the majority's accuracy at the 0.5 cut.
    - The champion, when there is one: no worse by more than `tolerance` in ROC AUC and log loss.
    - The spec's `slice_gate`, when it has one, on the measured `slices` ("column=value" keys).
    An undefined AUC (one class only) fails every AUC check, except within a slice: there it is reported.
    """
    checks = [
        _absolute("roc_auc", candidate.roc_auc, ">=", thresholds.min_roc_auc, "min_roc_auc"),
        _absolute("accuracy", candidate.accuracy, ">=", thresholds.min_accuracy, "min_accuracy"),
        _absolute("log_loss", candidate.log_loss, "<=", thresholds.max_log_loss, "max_log_loss"),
        _check("roc_auc", candidate.roc_auc, ">=", prior.roc_auc + baseline_margin, f"0.5 + {baseline_margin:g}"),
        _check(
            "log_loss",
            candidate.log_loss,
            "<=",
            prior.log_loss * (1 - baseline_margin),
            f"base-rate log loss {prior.log_loss:.4f} x (1 - margin {baseline_margin:g})",
        ),
    ]
    info = [f"INFO: accuracy {candidate.accuracy:.4f}, majority-class accuracy {prior.accuracy:.4f} (not gated)"]
    checks += _champion_checks(candidate, tolerance, champion, allow_unscored_champion)
    if slice_gate is not None:
        checks += _slice_checks(slice_gate, slices or {})
    passed = all(ok for ok, _ in checks)
    lead = [line for line in (champion.note, *notes) if line]
    return GateDecision(blessed=passed, reasons=[*lead, *(reason for _, reason in checks), *info])


def _champion_checks(
    candidate: BinaryMetrics, tolerance: float, champion: ChampionScore, allow_unscored: bool
) -> list[tuple[bool, str]]:
    if champion.version is None:
        return []
    label = f"champion version {champion.version}"
    if champion.problem is not None or champion.metrics is None:
        problem = champion.problem or "no metrics"
        if allow_unscored:
            return [(True, f"WAIVED: {label} could not be scored ({problem}); allow_unscored_champion is set")]
        return [(False, f"FAIL: {label} could not be scored, so the candidate cannot be compared: {problem}")]
    best = champion.metrics
    auc_bound = None if best.roc_auc is None else best.roc_auc - tolerance
    return [
        _check("roc_auc", candidate.roc_auc, ">=", auc_bound, f"{label} roc_auc {_fmt(best.roc_auc)} - {tolerance:g}"),
        _check(
            "log_loss",
            candidate.log_loss,
            "<=",
            best.log_loss + tolerance,
            f"{label} log_loss {_fmt(best.log_loss)} + {tolerance:g}",
        ),
    ]


def _slice_checks(slice_gate: SliceGate, slices: Mapping[str, BinaryMetrics]) -> list[tuple[bool, str]]:
    """A floor per slice and a cap on each column's gap; what cannot be measured is an INFO line, not a check."""
    checks: list[tuple[bool, str]] = []
    gaps = slice_gaps(slices, slice_gate.columns)
    for column in slice_gate.columns:
        measured = column_slices(slices, column)
        if not measured:
            checks.append((True, f"INFO: no slice of {column} has {MIN_SLICE_EXAMPLES} examples or more: not gated"))
        if slice_gate.min_roc_auc is not None:
            for key, metrics in measured.items():
                if metrics.roc_auc is None:
                    checks.append((True, f"INFO: slice {key} holds one class, roc_auc undefined: not gated"))
                else:
                    checks.append(
                        _check(f"slice {key} roc_auc", metrics.roc_auc, ">=", slice_gate.min_roc_auc, "slice floor")
                    )
        if slice_gate.max_roc_auc_gap is not None:
            checks.append(_gap_check(column, gaps.get(column), slices, slice_gate.max_roc_auc_gap))
    return checks


def _gap_check(
    column: str, gap: SliceGap | None, slices: Mapping[str, BinaryMetrics], bound: float
) -> tuple[bool, str]:
    if gap is None:
        return True, f"INFO: roc_auc gap across {column} not gated: fewer than two slices with a roc_auc"
    ok = gap.gap <= bound
    return ok, (
        f"{'PASS' if ok else 'FAIL'}: roc_auc gap {gap.gap:.4f} across {column} <= {bound:.4f} (max gap): "
        f"worst {gap.worst} {_fmt(slices[gap.worst].roc_auc)}, best {gap.best} {_fmt(slices[gap.best].roc_auc)}"
    )


def _absolute(metric: str, value: float | None, op: str, bound: float, bound_name: str) -> tuple[bool, str]:
    """A spec or run bound; a negative one is switched off and says so."""
    if bound < 0:
        return True, f"OFF: {metric} {_fmt(value)} ({bound_name} disabled)"
    return _check(metric, value, op, bound, bound_name)


def _check(metric: str, value: float | None, op: str, bound: float | None, bound_name: str) -> tuple[bool, str]:
    if value is None or bound is None:
        ok = False
    else:
        ok = value >= bound if op == ">=" else value <= bound
    verdict = "PASS" if ok else "FAIL"
    return ok, f"{verdict}: {metric} {_fmt(value)} {op} {_fmt(bound)} ({bound_name})"


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"
