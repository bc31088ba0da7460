"""Evaluation per slice: metrics per "column=value", and the gap between a column's best and worst slice.

The gate's slice checks (components.evaluate.gate) read both; the report shows them whether or not the
spec gates any slice. A slice under `MIN_SLICE_EXAMPLES` examples is only counted, and one holding a
single class has no ROC AUC: neither takes part in a gap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from components.evaluate.metrics import BinaryMetrics, binary_metrics

if TYPE_CHECKING:  # the gate imports this module and needs no TensorFlow
    import tensorflow as tf

MIN_SLICE_EXAMPLES = 30
# The headline metric that slices are compared on (the project's models are binary classifiers).
SLICE_METRIC = "roc_auc"


@dataclass(frozen=True)
class SliceGap:
    """Best minus worst slice of one column on `metric`; `best` and `worst` are "column=value" keys."""

    gap: float
    best: str
    worst: str
    metric: str = SLICE_METRIC

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
    labels: np.ndarray, probabilities: np.ndarray, values_by_column: Mapping[str, np.ndarray]
) -> tuple[dict[str, BinaryMetrics], dict[str, int]]:
    """Metrics per "column=value"; slices under `MIN_SLICE_EXAMPLES` examples are only counted."""
    measured: dict[str, BinaryMetrics] = {}
    skipped: dict[str, int] = {}
    for column, values in values_by_column.items():
        for value in sorted(set(values.tolist())):
            mask = values == value
            key = f"{column}={value}"
            if mask.sum() < MIN_SLICE_EXAMPLES:
                skipped[key] = int(mask.sum())
            else:
                measured[key] = binary_metrics(labels[mask], probabilities[mask])
    return measured, skipped


def column_slices(slices: Mapping[str, BinaryMetrics], column: str) -> dict[str, BinaryMetrics]:
    """The measured slices of one column, by key, in key order."""
    return {key: slices[key] for key in sorted(slices) if key.startswith(f"{column}=")}


def slice_gaps(slices: Mapping[str, BinaryMetrics], columns: Sequence[str]) -> dict[str, SliceGap]:
    """The ROC AUC gap per column, for columns with at least two measured slices that have one."""
    gaps: dict[str, SliceGap] = {}
    for column in columns:
        scored = {key: m.roc_auc for key, m in column_slices(slices, column).items() if m.roc_auc is not None}
        if len(scored) >= 2:
            best, worst = max(scored, key=scored.__getitem__), min(scored, key=scored.__getitem__)
            gaps[column] = SliceGap(gap=scored[best] - scored[worst], best=best, worst=worst)
    return gaps
