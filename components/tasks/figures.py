"""The tasks' figures of one evaluation; each task names the ones it draws (`Task.figures`).

Figures are built with matplotlib's object API (`Figure`, rendered by Agg), not pyplot, so no global
backend or figure state is touched.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from components.tasks.binary_metrics import Calibration, RocCurve

# A residual plot of more rows than this shows a seeded sample of them (the figure, not the metrics).
MAX_RESIDUAL_POINTS = 5000


def roc_figure(roc: RocCurve, roc_auc: float) -> Figure:
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    axes.plot(roc.fpr, roc.tpr, label=f"model (AUC {roc_auc:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    axes.legend(loc="lower right")
    return figure


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Figure:
    """Counts per true (rows) and predicted (columns) class, in `class_names` order."""
    size = 2.5 + 0.6 * len(class_names)
    figure = Figure(figsize=(size, size))
    axes = figure.subplots()
    axes.imshow(np.asarray(matrix), cmap="Blues")
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            axes.text(column, row, str(count), ha="center", va="center")
    ticks = list(range(len(class_names)))
    axes.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title="Confusion matrix")
    axes.set_xticklabels(class_names, rotation=45 if len(class_names) > 3 else 0, ha="right")
    axes.set_yticklabels(class_names)
    return figure


def calibration_figure(calibration: Calibration) -> Figure:
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axes.plot(
        calibration.bin_predicted,
        calibration.bin_observed,
        marker="o",
        label=f"model (ECE {calibration.expected_calibration_error:.3f})",
    )
    axes.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="mean predicted probability",
        ylabel="observed positive rate",
        title="Reliability curve",
    )
    axes.legend(loc="upper left")
    return figure


def residual_figure(targets: np.ndarray, predictions: np.ndarray, rmse: float) -> Figure:
    """Residual (true - predicted) against the prediction: a model without bias scatters around zero."""
    if targets.size > MAX_RESIDUAL_POINTS:
        keep = np.random.default_rng(0).choice(targets.size, MAX_RESIDUAL_POINTS, replace=False)
        targets, predictions = targets[keep], predictions[keep]
    figure = Figure(figsize=(6, 4.5))
    axes = figure.subplots()
    axes.scatter(predictions, targets - predictions, s=6, alpha=0.4, label=f"eval rows (RMSE {rmse:.4g})")
    axes.axhline(0, color="grey", linestyle="--", linewidth=0.8)
    axes.set(xlabel="predicted", ylabel="residual (true - predicted)", title="Residuals")
    axes.legend(loc="upper left")
    return figure
