"""The blessing gate: absolute bounds, the prior, the champion and the spec's slice bounds, on the same rows.

It fails closed. A candidate is blessed only when every check it can run passes *and* every check it
should run could be run: a champion that exists but could not be fetched, verified or scored is a
failed check that names the version and the error, never a reason to fall back to the thresholds
alone. `allow_unscored_champion` (a logged pipeline parameter, for a deliberate change of the data's
columns) turns that one failure into a waiver that the decision still states.

What differs between tasks (which metrics exist and which way is better, how the prior and the
champion are beaten) is the task's (components.tasks); the gate only orders and joins its checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from components.common.specs.base import SliceGate
from components.evaluate.slices import MIN_SLICE_EXAMPLES, SliceGap, column_slices, slice_gaps
from components.tasks import Check, Task, TaskMetrics
from components.tasks.base import compare, fmt


@dataclass(frozen=True)
class ChampionScore:
    """What evaluate learned of the registry's champion on the candidate's rows.

    `version` is None when the model has no champion yet (the first push). `problem`, when set, says
    why an existing champion could not be compared with (fetching, verifying or scoring failed).
    """

    version: str | None
    metrics: TaskMetrics | None = None
    problem: str | None = None
    note: str = ""


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate is blessed, with one line per check (value, bound, PASS/FAIL/WAIVED) or note."""

    blessed: bool
    reasons: list[str] = field(default_factory=list)


def gate(
    task: Task,
    candidate: TaskMetrics,
    thresholds: Mapping[str, float],
    tolerance: float,
    prior: TaskMetrics,
    baseline_margin: float,
    champion: ChampionScore,
    allow_unscored_champion: bool = False,
    notes: tuple[str, ...] = (),
    slice_gate: SliceGate | None = None,
    slices: Mapping[str, TaskMetrics] | None = None,
    skipped_slices: Mapping[str, int] | None = None,
) -> GateDecision:
    """Bless only if every check passes.

    - Absolute bounds from the spec or the run: each a floor or a ceiling by the metric's direction; a
      bound on a metric the task does not have raises ValueError.
    - The prior (`prior`: the task's metrics of its best constant prediction on these rows), beaten by
      `baseline_margin` as the task says (`Task.baseline_checks`), so a model that learned nothing is
      never blessed, whatever the bounds say.
    - The champion, when there is one: no worse than `tolerance` allows (`Task.champion_checks`).
    - The spec's `slice_gate`, when it has one, on the headline metric of the measured `slices`
      ("column=value" keys; `skipped_slices` counts the rows of those too small to measure).
    An undefined metric fails its check, except within a slice: there it is reported. A slice gate
    that can run no check at all fails, naming its slices, unless the spec marks it not `required`.
    A slice under the spec's `min_slice_rows` is gated like any other (measured from MIN_SLICE_EXAMPLES
    rows, else counted); the step only writes its lines without its name (components.evaluate.shown_slices).
    """
    checks = [
        *task.threshold_checks(candidate, thresholds),
        *task.baseline_checks(candidate, prior, baseline_margin),
        *_champion_checks(task, candidate, tolerance, champion, allow_unscored_champion),
    ]
    if slice_gate is not None:
        checks += _slice_checks(task, slice_gate, slices or {}, skipped_slices or {})
    lead = [line for line in (champion.note, *notes) if line]
    return GateDecision(
        blessed=all(check.passed for check in checks),
        reasons=[*lead, *(check.line for check in checks), *task.info_lines(candidate, prior)],
    )


def _champion_checks(
    task: Task, candidate: TaskMetrics, tolerance: float, champion: ChampionScore, allow_unscored: bool
) -> list[Check]:
    if champion.version is None:
        return []
    label = f"champion version {champion.version}"
    if champion.problem is not None or champion.metrics is None:
        problem = champion.problem or "no metrics"
        if allow_unscored:
            return [Check(True, f"WAIVED: {label} could not be scored ({problem}); allow_unscored_champion is set")]
        return [Check(False, f"FAIL: {label} could not be scored, so the candidate cannot be compared: {problem}")]
    return task.champion_checks(candidate, champion.metrics, tolerance, label)


def _slice_checks(
    task: Task, slice_gate: SliceGate, slices: Mapping[str, TaskMetrics], skipped: Mapping[str, int]
) -> list[Check]:
    """A bound per slice and a cap on each column's gap; what cannot be measured is an INFO line, not a check.

    When every line is INFO the gate was declared and checked nothing: that is one more check, failed
    (or an INFO line when the spec's gate is not `required`).
    """
    metric, higher = task.headline_metric, task.headline_higher_is_better
    bound_name = "slice floor" if higher else "slice ceiling"
    checks: list[Check] = []
    gaps = slice_gaps(task, slices, slice_gate.columns)
    for column in slice_gate.columns:
        measured = column_slices(slices, column)
        if not measured:
            checks.append(
                Check(True, f"INFO: no slice of {column} has {MIN_SLICE_EXAMPLES} examples or more: not gated")
            )
        if slice_gate.bound is not None:
            for key, metrics in measured.items():
                value = task.headline_value(metrics)
                if value is None:
                    checks.append(
                        Check(True, f"INFO: slice {key} {task.undefined_headline}, {metric} undefined: not gated")
                    )
                else:
                    checks.append(compare(f"slice {key} {metric}", value, higher, slice_gate.bound, bound_name))
        if slice_gate.max_gap is not None:
            checks.append(_gap_check(task, column, gaps.get(column), slices, slice_gate.max_gap))
    if all(check.line.startswith("INFO") for check in checks):
        checks.append(_nothing_gated(task, slice_gate, slices, skipped))
    return checks


def _nothing_gated(
    task: Task, slice_gate: SliceGate, slices: Mapping[str, TaskMetrics], skipped: Mapping[str, int]
) -> Check:
    """The check a declared slice gate adds when it could run none, naming each slice and why it was not gated."""
    metric = task.headline_metric
    why = []
    for column in slice_gate.columns:
        small = [f"{key} ({count} rows)" for key, count in sorted(skipped.items()) if key.startswith(f"{column}=")]
        measured = column_slices(slices, column)
        undefined = [key for key, metrics in measured.items() if task.headline_value(metrics) is None]
        scored = len(measured) - len(undefined)
        parts = [f"under {MIN_SLICE_EXAMPLES} rows: {', '.join(small)}"] if small else []
        parts += [f"{task.undefined_headline} ({metric} undefined): {', '.join(undefined)}"] if undefined else []
        if slice_gate.bound is None and scored == 1:
            parts.append(f"one slice with a {metric}, no gap")
        why.append(f"{column}: {'; '.join(parts) or 'no slices'}")
    columns = ", ".join(slice_gate.columns)
    detail = "; ".join(why)
    if not slice_gate.required:
        return Check(True, f"INFO: the slice gate on {columns} ran no check ({detail}); it is not required")
    return Check(False, f"FAIL: the slice gate on {columns} could run no check: {detail}")


def _gap_check(task: Task, column: str, gap: SliceGap | None, slices: Mapping[str, TaskMetrics], bound: float) -> Check:
    metric = task.headline_metric
    if gap is None:
        return Check(True, f"INFO: {metric} gap across {column} not gated: fewer than two slices with a {metric}")
    passed = gap.gap <= bound
    worst, best = task.headline_value(slices[gap.worst]), task.headline_value(slices[gap.best])
    return Check(
        passed,
        f"{'PASS' if passed else 'FAIL'}: {metric} gap {gap.gap:.4f} across {column} <= {bound:.4f} (max gap): "
        f"worst {gap.worst} {fmt(worst)}, best {gap.best} {fmt(best)}",
    )
