"""BENCHMARKS.md's whole-run section: kfp.local against the five steps in one process, per step, with a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the file-only backend

from bench.measure import Spread  # noqa: E402
from bench.report_format import fmt, reproduce, table  # noqa: E402

STEPS = ("validate", "transform", "train", "evaluate", "push")


def pipeline_section(data: dict[str, Any], plots: Path) -> tuple[str, dict[str, float]]:
    kfp = [run for run in data["runs"] if run["runner"] == "kfp.local"]
    one = [run for run in data["runs"] if run["runner"] == "one process"]
    whole = table(
        ["runner", "runs", "wall s", "CPU s", "peak RSS MB (largest process)", "ROC AUC"],
        [
            [
                name,
                len(runs),
                fmt(Spread.of([r["wall_s"] for r in runs])),
                fmt(Spread.of([r["cpu_s"] for r in runs])),
                fmt(Spread.of([r["peak_rss_mb"] for r in runs]), 0),
                ", ".join(f"{r['roc_auc']:.4f}" for r in runs if r.get("roc_auc") is not None),
            ]
            for name, runs in (("kfp.local (SubprocessRunner)", kfp), ("five step functions, one process", one))
        ],
    )
    kfp_wall = Spread.of([r["wall_s"] for r in kfp]).median
    one_wall = Spread.of([r["wall_s"] for r in one]).median
    overhead = 1 - one_wall / kfp_wall
    overhead_cpu = 1 - Spread.of([r["cpu_s"] for r in one]).median / Spread.of([r["cpu_s"] for r in kfp]).median
    rows, startup, works = [], {}, {}
    for step in STEPS:
        in_kfp = [r["steps"][step] for r in kfp if step in r["steps"]]
        in_one = [r["steps"][step] for r in one if step in r["steps"]]
        if not in_kfp or not in_one:
            continue
        kfp_step_wall = Spread.of([s["wall_s"] for s in in_kfp])
        work = Spread.of([s["work_s"] for s in in_one])
        startup[step] = kfp_step_wall.median - work.median
        works[step] = work.median
        rows.append(
            [
                step,
                fmt(kfp_step_wall),
                fmt(Spread.of([s["cpu_s"] for s in in_kfp])),
                fmt(Spread.of([s["peak_rss_mb"] for s in in_kfp]), 0),
                fmt(work),
                fmt(Spread.of([s["work_cpu_s"] for s in in_one])),
                f"{startup[step]:.1f}",
            ]
        )
    per_step = table(
        [
            "step",
            "kfp.local wall s",
            "kfp.local CPU s",
            "kfp.local peak RSS MB",
            "one process: work s",
            "one process: CPU s",
            "start-up + imports s (difference)",
        ],
        rows,
    )
    _pipeline_plot(rows, kfp, one, plots / "pipeline.png")
    aucs = [r["roc_auc"] for r in data["runs"] if r.get("roc_auc") is not None]
    figures = {
        "kfp_wall": kfp_wall,
        "one_wall": one_wall,
        "overhead": overhead,
        "overhead_cpu": overhead_cpu,
        "min_auc": min(aucs) if aucs else float("nan"),
        "startup": sum(startup.values()),
        **{f"work_{step}": seconds for step, seconds in works.items()},
        "one_import": Spread.of([r["import_s"] for r in one]).median,
    }
    text = f"""## 1. The local pipeline on the Chicago taxi file, per stage

The whole run (`python -m pipelines run`, kfp.local starting a fresh Python per step) against
the same five step functions called one after another in one Python process (`bench/stages.py pipeline`),
alternating, {len(kfp)} run(s) each, on `{data["dataset"]}` (15,002 rows, 20 epochs with early stopping).
Medians with (min–max). The per-step kfp.local figures come from sampling /proc every 0.5 s
(wall ±0.5 s; CPU is the children's own); "work s" is the step function's own time inside the one process.

{whole}

**Orchestration overhead** (1 − one-process wall / kfp.local wall): **{overhead:.0%}**; by CPU time
(1 − one-process CPU / kfp.local CPU, less sensitive to other work on the machine): {overhead_cpu:.0%}.

{per_step}

![wall time per step](bench/results/pipeline.png)

{reproduce("pipeline", data)}
"""
    return text, figures


def _pipeline_plot(rows: list[list[Any]], kfp: list[dict], one: list[dict], path: Path) -> None:
    steps = [row[0] for row in rows]
    kfp_wall = [Spread.of([r["steps"][s]["wall_s"] for r in kfp]).median for s in steps]
    work = [Spread.of([r["steps"][s]["work_s"] for r in one]).median for s in steps]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    positions = range(len(steps))
    axis.bar([p - 0.2 for p in positions], kfp_wall, width=0.4, label="kfp.local step (process)")
    axis.bar([p + 0.2 for p in positions], work, width=0.4, label="step function's work (one process)")
    axis.set_xticks(list(positions), steps)
    axis.set_ylabel("seconds")
    axis.set_title("Chicago taxi pipeline: wall time per step")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
