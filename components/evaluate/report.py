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
from components.evaluate.metrics import BinaryMetrics


def write_plots(metrics: BinaryMetrics, output_dir: Path) -> dict[str, Path]:
    """ROC curve (when defined), confusion matrix and reliability curve; returns name -> PNG path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    plots = {"confusion_matrix": _confusion_figure(metrics), "calibration": _calibration_figure(metrics)}
    if metrics.roc is not None:
        plots["roc_curve"] = _roc_figure(metrics)
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


def html_report(
    title: str,
    metrics: BinaryMetrics,
    decision: GateDecision,
    plots: Mapping[str, Path],
    slices: Mapping[str, BinaryMetrics],
) -> str:
    """A self-contained page: headline metrics, gate reasons, per-slice table, plots as base64 PNGs."""
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
        f"<h2>Plots</h2>{images}</body></html>"
    )
