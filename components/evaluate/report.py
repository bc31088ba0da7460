"""What a person looks at: PNG plots of the evaluation and an HTML page holding them.

Figures are built with matplotlib's object API (`Figure`, rendered by Agg), not
pyplot, so no global backend or figure state is touched.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Mapping

from matplotlib.figure import Figure

from components.evaluate.gate import GateDecision
from components.evaluate.importance import Importance
from components.evaluate.metrics import BinaryMetrics
from components.evaluate.slices import SliceGap


def write_plots(metrics: BinaryMetrics, output_dir: Path, importance: Mapping[str, Importance]) -> dict[str, Path]:
    """ROC curve and importance (when defined), confusion matrix, reliability curve; returns name -> PNG path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    plots = {"confusion_matrix": _confusion_figure(metrics), "calibration": _calibration_figure(metrics)}
    if metrics.roc is not None:
        plots["roc_curve"] = _roc_figure(metrics)
    if importance:
        plots["importance"] = _importance_figure(importance)
    paths = {}
    for name, figure in plots.items():
        paths[name] = output_dir / f"{name}.png"
        figure.savefig(paths[name], dpi=100, bbox_inches="tight")
    return paths


def _roc_figure(metrics: BinaryMetrics) -> Figure:
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    axes.plot(metrics.roc.fpr, metrics.roc.tpr, label=f"model (AUC {metrics.roc_auc:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    axes.legend(loc="lower right")
    return figure


def _confusion_figure(metrics: BinaryMetrics) -> Figure:
    figure = Figure(figsize=(4, 4))
    axes = figure.subplots()
    axes.imshow(metrics.confusion_matrix, cmap="Blues")
    for row, counts in enumerate(metrics.confusion_matrix):
        for column, count in enumerate(counts):
            axes.text(column, row, str(count), ha="center", va="center")
    axes.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="true", title="Confusion matrix")
    return figure


def _calibration_figure(metrics: BinaryMetrics) -> Figure:
    calibration = metrics.calibration
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


def _importance_figure(importance: Mapping[str, Importance]) -> Figure:
    """Horizontal bars, most important on top, with the interval as error bars."""
    names = list(importance)[::-1]
    means = [importance[name].mean for name in names]
    errors = [
        [importance[name].mean - importance[name].ci_low for name in names],
        [importance[name].ci_high - importance[name].mean for name in names],
    ]
    figure = Figure(figsize=(6, 1.5 + 0.3 * len(names)))
    axes = figure.subplots()
    axes.barh(names, means, xerr=errors, capsize=3)
    axes.axvline(0, color="grey", linewidth=0.8)
    metric = next(iter(importance.values())).metric
    axes.set(xlabel=f"drop in {metric} when the column is shuffled", title="Permutation importance")
    return figure


def html_report(
    title: str,
    metrics: BinaryMetrics,
    decision: GateDecision,
    plots: Mapping[str, Path],
    slices: Mapping[str, BinaryMetrics],
    slice_gaps: Mapping[str, SliceGap],
    importance: Mapping[str, Importance],
) -> str:
    """A self-contained page: headline metrics, gate reasons, slices and their gaps, importance, plots."""
    verdict = "BLESSED" if decision.blessed else "NOT BLESSED"
    headline = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.4f}</td></tr>" for name, value in metrics.headline().items()
    )
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in decision.reasons)
    slice_rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m.example_count}</td>"
        f"<td>{'n/a' if m.roc_auc is None else f'{m.roc_auc:.4f}'}</td>"
        f"<td>{m.accuracy:.4f}</td><td>{m.log_loss:.4f}</td></tr>"
        for name, m in slices.items()
    )
    gap_rows = "".join(
        f"<tr><td>{html.escape(column)}</td><td>{gap.gap:.4f}</td>"
        f"<td>{html.escape(gap.best)}</td><td>{html.escape(gap.worst)}</td></tr>"
        for column, gap in slice_gaps.items()
    )
    importance_rows = "".join(
        f"<tr><td>{html.escape(column)}</td><td>{value.mean:.4f}</td>"
        f"<td>[{value.ci_low:.4f}, {value.ci_high:.4f}]</td></tr>"
        for column, value in importance.items()
    )
    images = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode("ascii")}"/></figure>'
        for name, path in plots.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}: {verdict}</h1>"
        f"<h2>Metrics</h2><table border='1'><tr><th>metric</th><th>value</th></tr>{headline}</table>"
        f"<h2>Gate</h2><ul>{reasons}</ul>"
        "<h2>Slices</h2><table border='1'><tr><th>slice</th><th>examples</th><th>roc_auc</th>"
        f"<th>accuracy</th><th>log_loss</th></tr>{slice_rows}</table>"
        "<h3>ROC AUC gap between the best and the worst slice</h3><table border='1'><tr><th>column</th>"
        f"<th>gap</th><th>best</th><th>worst</th></tr>{gap_rows}</table>"
        "<h2>Permutation importance</h2><p>Drop in ROC AUC when a column is shuffled, with its interval.</p>"
        f"<table border='1'><tr><th>column</th><th>mean</th><th>interval</th></tr>{importance_rows}</table>"
        f"<h2>Plots</h2>{images}</body></html>"
    )
