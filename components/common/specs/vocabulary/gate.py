"""What a spec asks of the gate beyond its `thresholds` mapping: bounds within slices."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from components.common.specs.vocabulary.checks import Checked


@dataclass(frozen=True)
class SliceGate(Checked):
    """Bounds on the task's headline metric (ROC AUC, log loss, RMSE) within the slices of some columns.

    `bound` is a floor for every slice when higher is better (a ceiling when lower is better); `max_gap`
    caps best minus worst slice within one column. Either may be None (not checked), not both. `columns`
    are slice columns of the spec; empty means all of them (the spec fills them in). Slices with too few
    examples, or where the metric is undefined, are reported and not gated. `required` False lets the
    gate pass when no slice is large enough to check (zero checks); True refuses then.
    """

    bound: float | None = None
    max_gap: float | None = None
    columns: tuple[str, ...] = ()
    required: bool = True


# Keyword names of the vocabulary's earlier versions, and what replaced them (for the one-line refusal).
RENAMED = {
    ("SliceGate", "min_roc_auc"): "bound (the task's headline metric: ROC AUC for a binary task)",
    ("SliceGate", "max_roc_auc_gap"): "max_gap",
}


def GateThresholds(  # noqa: N802 - the deprecated class's name, kept so that older specs still build
    min_roc_auc: float | None = None, min_accuracy: float | None = None, max_log_loss: float | None = None
) -> dict[str, float]:
    """Deprecated: the gate's bounds are the spec's `thresholds` mapping, metric name -> bound.

    `GateThresholds(min_roc_auc=0.75, min_accuracy=0.87, max_log_loss=0.36)` becomes
    `{"roc_auc": 0.75, "accuracy": 0.87, "log_loss": 0.36}`; a negative bound (off) is left out.
    """
    old = {"roc_auc": min_roc_auc, "accuracy": min_accuracy, "log_loss": max_log_loss}
    bounds = {metric: float(bound) for metric, bound in old.items() if bound is not None and bound >= 0}
    warnings.warn(
        f"GateThresholds is deprecated and will be removed; write thresholds={bounds!r}", DeprecationWarning, 2
    )
    return bounds
