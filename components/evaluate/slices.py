"""Evaluation per slice: metrics per "column=value", and the gap between a column's best and worst slice.

The gate's slice checks (components.evaluate.gate) read both; the report shows them whether or not the
spec gates any slice. Slices are compared on the task's headline metric. A slice under
`MIN_SLICE_EXAMPLES` examples is only counted, and one where the headline is undefined (a binary slice
holding one class) takes part in no gap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from components.tasks import Task, TaskMetrics

if TYPE_CHECKING:  # the gate imports this module and needs no TensorFlow
    import tensorflow as tf

MIN_SLICE_EXAMPLES = 30


@dataclass(frozen=True)
class SliceGap:
    """How far apart one column's best and worst slice are on `metric` (|best - worst|); both are "column=value"."""

    gap: float
    best: str
    worst: str
    metric: str

    def to_dict(self) -> dict:
        return asdict(self)


def slice_values(dense: Mapping[str, tf.Tensor], columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Each slice column's values as text."""
    return {name: np.array([_slice_value(v) for v in dense[name].numpy()]) for name in columns}


def _slice_value(value: bytes | float) -> str:
    """Strings decoded, whole numbers without ".0", anything missing as "(missing)"."""
    if isinstance(value, bytes):
        return value.decode("utf-8") or "(missing)"
    if np.isnan(value):
        return "(missing)"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def slice_metrics(
    task: Task, targets: np.ndarray, predictions: np.ndarray, values_by_column: Mapping[str, np.ndarray]
) -> tuple[dict[str, TaskMetrics], dict[str, int]]:
    """The task's metrics per "column=value"; slices under `MIN_SLICE_EXAMPLES` examples are only counted."""
    measured: dict[str, TaskMetrics] = {}
    skipped: dict[str, int] = {}
    for column, values in values_by_column.items():
        for value in sorted(set(values.tolist())):
            mask = values == value
            key = f"{column}={value}"
            if mask.sum() < MIN_SLICE_EXAMPLES:
                skipped[key] = int(mask.sum())
            else:
                measured[key] = task.metrics(targets[mask], predictions[mask])
    return measured, skipped


def column_slices(slices: Mapping[str, TaskMetrics], column: str) -> dict[str, TaskMetrics]:
    """The measured slices of one column, by key, in key order."""
    return {key: slices[key] for key in sorted(slices) if key.startswith(f"{column}=")}


def slice_gaps(task: Task, slices: Mapping[str, TaskMetrics], columns: Sequence[str]) -> dict[str, SliceGap]:
    """The headline metric's gap per column, for columns with at least two measured slices where it is defined."""
    gaps: dict[str, SliceGap] = {}
    sign = 1.0 if task.headline_higher_is_better else -1.0
    for column in columns:
        scored = {
            key: value
            for key, metrics in column_slices(slices, column).items()
            if (value := task.headline_value(metrics)) is not None
        }
        if len(scored) >= 2:
            best = max(scored, key=lambda key: sign * scored[key])
            worst = min(scored, key=lambda key: sign * scored[key])
            gaps[column] = SliceGap(abs(scored[best] - scored[worst]), best, worst, task.headline_metric)
    return gaps
