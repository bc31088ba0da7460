"""BENCHMARKS.md's scaling section: rows/s and peak memory per stage and size, growth exponents, a plot."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the file-only backend

from bench.measure import Spread, growth_exponent  # noqa: E402
from bench.report_format import exponent, fmt, reproduce, table  # noqa: E402


def _grouped(points: list[dict[str, Any]]) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        groups[(point["stage"], point["dataset"], point["size"])].append(point)
    return groups


def exponents(points: list[dict[str, Any]], stage: str, dataset: str = "flights") -> dict[str, float] | None:
    """Growth exponents of a stage's work time and peak memory over its sizes (None below two sizes)."""
    groups = {size: runs for (s, d, size), runs in _grouped(points).items() if s == stage and d == dataset}
    sizes = sorted(groups)
    if len(sizes) < 2:
        return None
    rows = [Spread.of([r["rows"] for r in groups[size]]).median for size in sizes]
    seconds = [Spread.of([r["work_s"] for r in groups[size]]).median for size in sizes]
    memory = [Spread.of([r["peak_rss_mb"] for r in groups[size]]).median for size in sizes]
    return {
        "time": growth_exponent(rows, seconds),
        "time_top": growth_exponent(rows[-2:], seconds[-2:]),
        "memory": growth_exponent(rows, memory),
        "memory_low": memory[0],
        "memory_high": memory[-1],
        "size_low": sizes[0],
        "size_high": sizes[-1],
    }


def scaling_section(data: dict[str, Any], plots: Path) -> tuple[str, dict[str, dict[str, float]]]:
    groups = _grouped(data["points"])
    rows = []
    for (stage, dataset, size), runs in sorted(groups.items(), key=lambda item: (item[0][0] != "validate", item[0])):
        work = Spread.of([r["work_s"] for r in runs])
        rate = Spread.of([r["rows"] / r["work_s"] for r in runs])
        rows.append(
            [
                stage,
                dataset,
                f"{size:,}",
                f"{int(runs[0]['rows']):,}",
                fmt(work),
                fmt(rate, 0),
                fmt(Spread.of([r["wall_s"] for r in runs])),
                fmt(Spread.of([r["peak_rss_mb"] for r in runs]), 0),
            ]
        )
    stages = sorted({stage for stage, _, _ in groups}, key=["validate", "transform", "train"].index)
    fitted = {stage: fit for stage in stages if (fit := exponents(data["points"], stage)) is not None}
    fit_rows = [
        [
            stage,
            f"{fit['size_low']:,}–{fit['size_high']:,}",
            exponent(fit["time"]),
            exponent(fit["time_top"]),
            exponent(fit["memory"]),
            f"{fit['memory_low']:,.0f} → {fit['memory_high']:,.0f}",
        ]
        for stage, fit in fitted.items()
    ]
    if any(point["dataset"] == "flights" for point in data["points"]):
        _scaling_plot(data["points"], stages, plots / "scaling.png")
    text = f"""## 2. Scaling with rows: validate, transform, train

Each point is one stage in its own process (`bench/stages.py`): validate runs the GX suite
(in batches of 250,000 rows), transform the tf.Transform Beam pipeline (DirectRunner), train one epoch.
"Work s" excludes process start and imports (shown in "process wall s"); rows/s is the rows the stage
processed (train: the examples fitted, 90% of the train split) per work second. Flights are seeded uniform
samples of vega-datasets' 3,000,000 flights; the taxi rows are the first rows of the Chicago taxi file.
Peak RSS is the whole process's, imports included.

{table(["stage", "data", "sample rows", "rows processed", "work s", "rows/s", "process wall s", "peak RSS MB"], rows)}

Growth exponent b of cost ∝ rows^b (least squares on log–log, flights sizes; "largest two" is the slope between
the two largest sizes, where fixed costs matter least):

{table(["stage", "flights rows", "time b (all sizes)", "time b (largest two)", "peak memory b", "peak MB"], fit_rows)}

![throughput and memory against rows](bench/results/scaling.png)

{reproduce("scaling", data)}
"""
    return text, fitted


def _scaling_plot(points: list[dict[str, Any]], stages: list[str], path: Path) -> None:
    groups = _grouped(points)
    figure, (rate_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for stage in stages:
        sizes = sorted(size for (s, d, size) in groups if s == stage and d == "flights")
        if not sizes:
            continue
        runs = [groups[(stage, "flights", size)] for size in sizes]
        rate_axis.plot(
            sizes, [Spread.of([r["rows"] / r["work_s"] for r in rs]).median for rs in runs], "o-", label=stage
        )
        memory_axis.plot(sizes, [Spread.of([r["peak_rss_mb"] for r in rs]).median for rs in runs], "o-", label=stage)
    for axis, label in ((rate_axis, "rows/s"), (memory_axis, "peak RSS MB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("flights rows")
        axis.set_ylabel(label)
        axis.legend()
        axis.grid(True, which="both", alpha=0.3)
    rate_axis.set_title("throughput")
    memory_axis.set_title("peak memory")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
