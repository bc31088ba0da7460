"""What a person looks at: PNG plots of the evaluation and an HTML page holding them.

Which plots and which metrics are the task's (components.tasks, which draws them); the importance
figure is drawn here.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from components.evaluate.gate import GateDecision
from components.evaluate.importance import Importance
from components.evaluate.slices import SliceGap
from components.tasks import Task, TaskMetrics


def write_plots(
    task: Task,
    metrics: TaskMetrics,
    targets: np.ndarray,
    predictions: np.ndarray,
    output_dir: Path,
    importance: Mapping[str, Importance],
) -> dict[str, Path]:
    """The task's plots and, when measured, the importance; returns name -> PNG path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    plots = task.figures(metrics, targets, predictions)
    if importance:
        plots["importance"] = importance_figure(importance)
    paths = {}
    for name, figure in plots.items():
        paths[name] = output_dir / f"{name}.png"
        figure.savefig(paths[name], dpi=100, bbox_inches="tight")
    return paths


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def html_report(
    title: str,
    task: Task,
    metrics: TaskMetrics,
    decision: GateDecision,
    plots: Mapping[str, Path],
    slices: Mapping[str, TaskMetrics],
    slice_gaps: Mapping[str, SliceGap],
    importance: Mapping[str, Importance],
    worst_images: str = "",
) -> str:
    """A self-contained page: headline metrics, gate reasons, slices and their gaps, importance, plots."""
    verdict = "BLESSED" if decision.blessed else "NOT BLESSED"
    headline = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.4f}</td></tr>" for name, value in metrics.headline().items()
    )
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in decision.reasons)
    slice_header = "".join(f"<th>{html.escape(name)}</th>" for name in task.table_metrics)
    slice_rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m.example_count}</td>"
        + "".join(f"<td>{_number(m.headline().get(metric))}</td>" for metric in task.table_metrics)
        + "</tr>"
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
    metric = html.escape(task.headline_metric)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}: {verdict}</h1>"
        f"<h2>Metrics</h2><table border='1'><tr><th>metric</th><th>value</th></tr>{headline}</table>"
        f"<h2>Gate</h2><ul>{reasons}</ul>"
        f"<h2>Slices</h2><table border='1'><tr><th>slice</th><th>examples</th>{slice_header}</tr>{slice_rows}</table>"
        f"<h3>{metric} gap between the best and the worst slice</h3><table border='1'><tr><th>column</th>"
        f"<th>gap</th><th>best</th><th>worst</th></tr>{gap_rows}</table>"
        f"<h2>Permutation importance</h2><p>How much worse {metric} gets when a column is shuffled, with its "
        f"interval.</p><table border='1'><tr><th>column</th><th>mean</th><th>interval</th></tr>{importance_rows}"
        f"</table>{worst_images}<h2>Plots</h2>{images}</body></html>"
    )


def importance_figure(importance: Mapping[str, Importance]) -> Figure:
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
    axes.set(xlabel=f"how much worse {metric} gets when the column is shuffled", title="Permutation importance")
    return figure
