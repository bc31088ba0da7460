"""The "Before and after" part of BENCHMARKS.md, from bench/results/compare.json (`python -m bench compare`).

Every figure is read from the results; the targets are issue 15's. A missed target's reason comes from
bench/results/compare-notes.json (written by whoever ran the comparison and read the logs), keyed by the
target's name, since why a figure falls short is not something the numbers say by themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median
from typing import Any, Callable

from bench.measure import Spread

VARIANTS = ("before", "before, compiled", "after")
STEPS = ("validate", "transform", "tune", "train", "evaluate", "push")
TAXI = "chicago_taxi"
TFX_TAXI_WALL_S = 116.0  # ../shared/data/README.md: TFX 1.21's taxi pipeline on this file, same machine type
TRAIN_EPOCH_BEFORE = 9_457  # examples/s, one epoch at 1M flights rows, measured when issue 15 was filed
PEAK_LIMIT_MB = 1.15e9 / 2**20  # TFX's process: 1.15 GB, in the MiB that ru_maxrss and VmHWM count


def _spread(values: list[float], digits: int = 1) -> str:
    spread = Spread.of(values)
    if spread.n == 1:
        return f"{spread.median:,.{digits}f}"
    return f"{spread.median:,.{digits}f} ({spread.low:,.{digits}f}–{spread.high:,.{digits}f})"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def _runs(data: dict[str, Any], dataset: str, variant: str) -> list[dict[str, Any]]:
    return data["runs"].get(f"{dataset} / {variant}", [])


def _largest_step_peak(run: dict[str, Any]) -> float:
    return max((step["peak_rss_mb"] or 0.0) for step in run["steps"].values())


def runs_table(data: dict[str, Any]) -> str:
    datasets = sorted({key.split(" / ")[0] for key in data["runs"]})
    rows = []
    for dataset in datasets:
        for variant in VARIANTS:
            runs = _runs(data, dataset, variant)
            if not runs:
                continue
            steps = [
                _spread([run["steps"][step]["wall_s"] for run in runs if step in run["steps"]])
                if any(step in run["steps"] for run in runs)
                else "—"
                for step in STEPS
            ]
            aucs = sorted({f"{run['roc_auc']:.4f}" for run in runs if run["roc_auc"] is not None})
            rows.append(
                [
                    dataset,
                    variant,
                    len(runs),
                    _spread([run["wall_s"] for run in runs]),
                    *steps,
                    _spread([_largest_step_peak(run) for run in runs], 0),
                    ", ".join(aucs) or "—",
                ]
            )
    header = ["dataset", "code", "runs", "wall s", *(f"{step} s" for step in STEPS), "largest step MB", "ROC AUC"]
    return _table(header, rows)


def startup_table(data: dict[str, Any]) -> str:
    startup = data["startup"]
    steps = list(next(iter(startup.values())))
    rows = [
        [step, *(_spread(startup[variant][step], 2) for variant in VARIANTS if variant in startup)] for step in steps
    ]
    return _table(["module a step imports", *(variant for variant in VARIANTS if variant in startup)], rows)


def flights_table(data: dict[str, Any]) -> str:
    rows = []
    for variant in ("before, compiled", "after"):
        for transform in data["transform"].get(variant, []):
            rows.append(
                [
                    "transform",
                    variant,
                    f"{transform['work_s']:.1f}",
                    f"{transform['rows'] / transform['work_s']:,.0f}",
                    f"{transform['peak_rss_mb']:,.0f}",
                ]
            )
        for train in data["train"].get(variant, []):
            rows.append(
                [
                    "train, one epoch",
                    variant,
                    f"{train['work_s']:.1f}",
                    f"{train['rows'] / train['work_s']:,.0f}",
                    f"{train['peak_rss_mb']:,.0f}",
                ]
            )
    return _table(["stage", "code", "work s", "rows/s (train: examples/s)", "peak RSS MB"], rows)


def _input_ratio(result: dict[str, Any]) -> tuple[float, float, float]:
    """(tf.data examples/s, in-memory examples/s, ratio): medians of the epochs after the first."""
    path, bound = (
        median(result["runs"]["tf.data"]["examples_per_s"]),
        median(result["runs"]["in-memory"]["examples_per_s"]),
    )
    return path, bound, path / bound


def input_table(data: dict[str, Any]) -> str:
    rows = []
    for variant in ("before, compiled", "after"):
        for result in data["input"].get(variant, []):
            path, bound, ratio = _input_ratio(result)
            batch = result.get("batch_size", 256)  # the baseline's bench wrote no batch size: it used its 256
            rows.append([variant, f"{result['examples']:,}", batch, f"{path:,.0f}", f"{bound:,.0f}", f"{ratio:.0%}"])
    header = ["code", "examples", "batch", "tf.data path examples/s", "in-memory bound examples/s", "path / bound"]
    return _table(header, rows)


def _target_rows(data: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, wanted, before → after, met) for each of issue 15's targets the results cover."""
    found: list[tuple[str, str, str, bool]] = []

    def wall(dataset: str, variant: str) -> float | None:
        runs = _runs(data, dataset, variant)
        return median(run["wall_s"] for run in runs) if runs else None

    def add(
        name: str, wanted: str, before: float | None, after: float | None, met: Callable[[float], bool], unit: str
    ) -> None:
        if after is not None:
            shown = (
                f"{before:,.{1 if unit == 's' else 0}f} → {after:,.{1 if unit == 's' else 0}f} {unit}"
                if before
                else f"{after:,.0f} {unit}"
            )
            found.append((name, wanted, shown, met(after)))

    add(
        "make run, Chicago taxi",
        f"≤ {0.75 * TFX_TAXI_WALL_S:.0f} s (0.75× TFX's {TFX_TAXI_WALL_S:.0f} s; aim 60 s)",
        wall(TAXI, "before"),
        wall(TAXI, "after"),
        lambda s: s <= 0.75 * TFX_TAXI_WALL_S,
        "s",
    )
    add(
        "make run, default dataset",
        "≤ 60 s",
        wall("modeldata_taxi", "before"),
        wall("modeldata_taxi", "after"),
        lambda s: s <= 60,
        "s",
    )
    taxi_after = _runs(data, TAXI, "after")
    if taxi_after:
        peak = max(_largest_step_peak(run) for run in taxi_after)
        before_runs = _runs(data, TAXI, "before, compiled")
        add(
            "peak memory of the largest step, taxi run",
            f"≤ {PEAK_LIMIT_MB:,.0f} MB (TFX's 1.15 GB)",
            max(map(_largest_step_peak, before_runs)) if before_runs else None,
            peak,
            lambda mb: mb <= PEAK_LIMIT_MB,
            "MB",
        )
        aucs = [run["roc_auc"] for run in taxi_after if run["roc_auc"] is not None]
        if aucs:
            found.append(("taxi ROC AUC", "≥ 0.95", f"{min(aucs):.4f} (lowest run)", min(aucs) >= 0.95))
    rows_s = {
        variant: [t["rows"] / t["work_s"] for t in data["transform"].get(variant, [])]
        for variant in ("before, compiled", "after")
    }
    if rows_s["before, compiled"] and rows_s["after"]:
        before, after = median(rows_s["before, compiled"]), median(rows_s["after"])
        found.append(
            (
                f"transform rows/s at {data['flights_rows']:,} rows",
                "≥ 2× before",
                f"{before:,.0f} → {after:,.0f} ({after / before:.1f}×)",
                after >= 2 * before,
            )
        )
    epochs = data["train"].get("after", [])
    if epochs:
        after = median(t["rows"] / t["work_s"] for t in epochs)
        before_epochs = data["train"].get("before, compiled", [])
        shown = f"{after:,.0f} examples/s ({after / TRAIN_EPOCH_BEFORE:.1f}× {TRAIN_EPOCH_BEFORE:,})"
        if before_epochs:
            before = median(t["rows"] / t["work_s"] for t in before_epochs)
            shown = f"{before:,.0f} → {shown}; {after / before:.1f}× the baseline's run"
        wanted = f"≥ {5 * TRAIN_EPOCH_BEFORE:,} examples/s (5× the {TRAIN_EPOCH_BEFORE:,} of the issue)"
        found.append(
            (
                f"one training epoch at {data['flights_rows']:,} rows (CPU)",
                wanted,
                shown,
                after >= 5 * TRAIN_EPOCH_BEFORE,
            )
        )
    inputs = data["input"].get("after", [])
    if inputs:
        ratio = median(_input_ratio(result)[2] for result in inputs)
        before = data["input"].get("before, compiled", [])
        shown = f"{median(_input_ratio(r)[2] for r in before):.0%} → {ratio:.0%}" if before else f"{ratio:.0%}"
        found.append(("tf.data path vs in-memory bound (CPU)", "≥ 90%", shown, ratio >= 0.9))
    return found


def compare_section(data: dict[str, Any], notes: dict[str, str]) -> str:
    targets = _target_rows(data)
    verdicts = [[name, wanted, measured, "met" if met else "**missed**"] for name, wanted, measured, met in targets]
    missed = [
        f"- **{name}**: {notes.get(name, 'no note recorded in bench/results/compare-notes.json.')}"
        for name, _, _, met in targets
        if not met
    ]
    load = ", ".join(f"{value:.1f}" for value in data["load_average_at_start"])
    load_end = ", ".join(f"{value:.1f}" for value in data.get("load_average_at_end", ()))
    return f"""## Before and after (issue 15): baseline {data["baseline"]} against this tree, side by side

`python -m bench compare` runs every measurement on the baseline commit (a git worktree) and on this
tree in turn, so both see the same load; load average (1, 5, 15 min) at its start {load}, at its end {load_end}.
"before" is the baseline's code in the environment its own `make setup` left (installed packages without
compiled bytecode: each step's Python compiled TensorFlow's sources again); "before, compiled" is the
same code on this tree's byte-compiled environment, so its difference from "after" is what the code changes did.
Whole runs start on a fresh MLflow store, as on a fresh clone; a step's seconds are the ones its line prints.

{_table(["target", "wanted", "before → after", "verdict"], verdicts)}

{chr(10).join(missed) if missed else "Every target measured here is met."}

### make run, whole and per step

{runs_table(data)}

### Start-up: a fresh Python importing what each step imports, seconds

{startup_table(data)}

### Flights, {data["flights_rows"]:,} rows: tf.Transform and one training epoch

{flights_table(data)}

### Training input path against its in-memory bound (same model, same batch size, epochs after the first)

{input_table(data)}

Reproduce: `BENCH_SCALE=default .venv/bin/python -m bench compare` (BENCH_BASELINE=<revision> to compare
another), then `.venv/bin/python -m bench report`.
"""


def load_compare(results: Path) -> str | None:
    path = results / "compare.json"
    if not path.exists():
        return None
    notes_path = results / "compare-notes.json"
    notes = json.loads(notes_path.read_text()) if notes_path.exists() else {}
    return compare_section(json.loads(path.read_text()), notes)
