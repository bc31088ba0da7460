"""BENCHMARKS.md from bench/results/*.json: tables with their reproduce commands, PNG plots, targets.

Every figure in the file is read from the results; nothing here is a measurement.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the file-only backend

from bench.compare_report import load_compare  # noqa: E402
from bench.measure import Spread, growth_exponent  # noqa: E402

STEPS = ("validate", "transform", "train", "evaluate", "push")
TFX_TAXI_WALL_S = (116.0, 127.0)  # ../shared/data/README.md: TFX 1.21's taxi pipeline on this file, same machine type
TARGETS = {"wall_fraction_of_tfx": 0.5, "min_auc": 0.95, "overhead": 0.15, "input_ratio": 0.9, "exponent": 1.1}


def fmt(spread: Spread, digits: int = 1) -> str:
    """Median with its range, e.g. "12.3 (11.9–12.8)"; a single run says n=1."""
    if spread.n == 1:
        return f"{spread.median:,.{digits}f} (n=1)"
    return f"{spread.median:,.{digits}f} ({spread.low:,.{digits}f}–{spread.high:,.{digits}f})"


def exponent(value: float) -> str:
    """Two decimals, never "-0.00"."""
    return f"{round(value, 2) + 0.0:.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def reproduce(section: str, data: dict[str, Any]) -> str:
    """The command that measures a section again (then `python -m bench report`)."""
    return f"Reproduce: `BENCH_SCALE={data.get('scale', 'default')} .venv/bin/python -m bench {section}`"


def _load(results: Path, name: str, defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return {**(defaults or {}), **json.loads(path.read_text())} if path.exists() else None


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


def input_section(cpu: dict[str, Any] | None, gpu: dict[str, Any] | None) -> tuple[str, float | None]:
    """The table, and on the CPU the real path's fraction of the bound."""
    rows, cpu_ratio = [], None
    for data in (cpu, gpu):
        for run in data["runs"] if data else []:
            real = Spread.of(run["runs"]["tf.data"]["examples_per_s"])
            bound = Spread.of(run["runs"]["in-memory"]["examples_per_s"])
            ratio = real.median / bound.median
            if data is cpu:
                cpu_ratio = ratio
            precision = "mixed_float16" if run["mixed_precision"] else "float32"
            batch = run.get("batch_size", "?")
            rows.append([run["device"], precision, batch, fmt(real, 0), fmt(bound, 0), f"{ratio:.0%}"])
    if gpu is None:
        rows.append(["GPU", "float32 / mixed_float16", "—", "not measured: no GPU lent", "—", "—"])
    commands = [reproduce(section, data) for section, data in (("input", cpu), ("gpu", gpu)) if data]
    rows_note = f"{cpu['rows']:,}" if cpu else "?"
    header = ["device", "precision", "batch", "tf.data examples/s", "in-memory examples/s", "tf.data / bound"]
    text = f"""## 3. Training input pipeline: tf.data against in-memory tensors

The model of the train step fed by the real input path (gzipped TFRecords parsed once into columns, batches
gathered by a shuffled index permutation each epoch, `components/train/input.py`) against the same model fed
the same examples from NumPy arrays in memory with `model.fit` (the bound), on the flights transform output of
{rows_note} rows, no validation pass. Examples/s per epoch, first epoch (tracing) left out; median (min–max)
over the later epochs. On a GPU machine, `python -m bench gpu` adds the GPU rows with and without mixed precision.

{table(header, rows)}

{"  ".join(commands)}
"""
    return text, cpu_ratio


def serving_section(data: dict[str, Any]) -> str:
    rows = []
    for batch in ("1", "256"):
        p50 = Spread.of([run[batch]["p50_ms"] for run in data["runs"]])
        p99 = Spread.of([run[batch]["p99_ms"] for run in data["runs"]])
        rows.append([batch, fmt(p50, 2), fmt(p99, 2), f"{int(batch) * 1000 / p50.median:,.0f}"])
    calls = data["runs"][0]["1"]["calls"]
    return f"""## 4. Serving latency

The exported Chicago taxi SavedModel (`predict_csv`: raw CSV lines in, the tf.Transform graph inside), loaded in
one process, {calls} timed calls per batch size after a warm-up, {len(data["runs"])} processes; medians (min–max)
of each process's percentile.

{table(["batch", "p50 ms", "p99 ms", "rows/s at p50"], rows)}

{reproduce("serving", data)}
"""


def _wall_note(pipeline: dict[str, float], over: float) -> str:
    one_wall, imports, startup = pipeline["one_wall"], pipeline["one_import"], pipeline["startup"]
    transform, train = pipeline.get("work_transform", 0.0), pipeline.get("work_train", 0.0)
    return (
        f"{over:.0f} s over. kfp.local starts a fresh Python per step that imports TensorFlow, Beam, GX and MLflow "
        f"again: the steps' process wall times exceed their own work by {startup:.0f} s in total. The five step "
        f"functions in one process take {one_wall:.0f} s, {imports:.0f} s of it imports; of the work, transform "
        f"(Beam DirectRunner) takes {transform:.0f} s and train (20 epochs, early stopping) {train:.0f} s. "
        "Fix: (1) a local runner that calls the step functions in one process (kfp kept for clusters) removes most "
        "of the difference; (2) then transform and train are what is left: Beam's start-up and analysis passes "
        "dominate transform at this size. TFX's figure was measured on a quiet machine: compare against a run whose "
        "load average (header) is below the core count."
    )


def targets_section(
    pipeline: dict[str, float] | None,
    fitted: dict[str, dict[str, float]],
    input_ratio: float | None,
) -> str:
    rows, notes = [], []

    def add(name: str, target: str, measured: str, met: bool, note: str) -> None:
        rows.append([name, target, measured, "met" if met else "**missed**"])
        if not met:
            notes.append(f"- **{name}**: {note}")

    if pipeline:
        limit = TFX_TAXI_WALL_S[0] * TARGETS["wall_fraction_of_tfx"]
        wall = pipeline["kfp_wall"]
        add(
            "whole local run",
            f"≤ {limit:.0f} s (half of TFX's {TFX_TAXI_WALL_S[0]:.0f}–{TFX_TAXI_WALL_S[1]:.0f} s)",
            f"{wall:.0f} s ({wall / TFX_TAXI_WALL_S[0]:.1f}× TFX's fastest)",
            wall <= limit,
            _wall_note(pipeline, wall - limit),
        )
        add(
            "model ROC AUC",
            f"≥ {TARGETS['min_auc']}",
            f"{pipeline['min_auc']:.4f} (lowest run)",
            pipeline["min_auc"] >= TARGETS["min_auc"],
            "below the floor: check the run's training curves in MLflow.",
        )
        add(
            "orchestration overhead",
            f"≤ {TARGETS['overhead']:.0%} of the run",
            f"{pipeline['overhead']:.0%} of wall time, {pipeline['overhead_cpu']:.0%} of CPU time",
            pipeline["overhead"] <= TARGETS["overhead"],
            f"{pipeline['overhead'] - TARGETS['overhead']:.0%} points over: nearly all of it is the per-step process "
            "start-up and imports above (kfp.local's own bookkeeping is small); the same fixes apply. On a cluster "
            "each step is a pod start instead, so the overhead there is larger still for data this small.",
        )
    if input_ratio is not None:
        add(
            "tf.data path vs in-memory bound (CPU)",
            f"≥ {TARGETS['input_ratio']:.0%}",
            f"{input_ratio:.0%}",
            input_ratio >= TARGETS["input_ratio"],
            f"{TARGETS['input_ratio'] - input_ratio:.0%} points short: epochs swing widely on a shared 2-core "
            "machine at this size (an epoch is a fraction of a second); re-measure on a quiet one or on more rows.",
        )
    for stage, fit in fitted.items():
        add(
            f"{stage} growth exponent",
            f"≤ {TARGETS['exponent']}",
            f"{exponent(fit['time'])} (largest two sizes {exponent(fit['time_top'])})",
            fit["time"] <= TARGETS["exponent"],
            f"{fit['time'] - TARGETS['exponent']:.2f} over: cost grows faster than the rows.",
        )
        if stage in ("validate", "transform"):
            add(
                f"{stage} peak memory",
                "flat or sub-linear in rows (b < 1)",
                f"b = {exponent(fit['memory'])} ({fit['memory_low']:,.0f} → {fit['memory_high']:,.0f} MB)",
                fit["memory"] < 1.0,
                "memory grows with the rows: the stage holds the whole input.",
            )
    notes_text = "\n".join(notes) if notes else "Every target measured here is met."
    return f"""## Targets

{table(["target", "wanted", "measured", "verdict"], rows)}

### Where a target is missed

{notes_text}
"""


def write_report(results: Path, destination: Path) -> Path:
    """Render every section whose results exist; returns the path written."""
    machine = _load(results, "machine")
    scale = {"scale": machine["scale"]} if machine else {}
    sections, figures, fitted, ratio = [], None, {}, None
    if (data := _load(results, "pipeline", scale)) is not None:
        text, figures = pipeline_section(data, results)
        sections.append(text)
    if (data := _load(results, "scaling", scale)) is not None:
        text, fitted = scaling_section(data, results)
        sections.append(text)
    cpu, gpu = _load(results, "input_cpu", scale), _load(results, "input_gpu", scale)
    if cpu or gpu:
        text, ratio = input_section(cpu, gpu)
        sections.append(text)
    if (data := _load(results, "serving", scale)) is not None:
        sections.append(serving_section(data))
    if (compared := load_compare(results)) is not None:
        sections.insert(0, compared)
    header = (
        "# Benchmarks\n\nWritten by `make bench` (`python -m bench all`); every figure below is measured by `bench/`.\n"
    )
    if machine:
        header += (
            f"\nMachine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, Python "
            f"{machine['python']}, no GPU unless a GPU row says so; {machine['date']}; each section's Reproduce "
            "line gives the BENCH_SCALE it ran at. Load average (1, 5, 15 min) when `bench all` started "
            f"{_load_text(machine.get('load_average_at_start'))}, when it ended "
            f"{_load_text(machine.get('load_average_at_end'))}: a load above the core count means other work shared "
            "the machine and the times are upper bounds.\n"
        )
    body = "\n".join([header, targets_section(figures, fitted, ratio), *sections])
    destination.write_text(body, encoding="utf-8")
    return destination


def _load_text(load: Sequence[float] | None) -> str:
    return "unknown" if not load else ", ".join(f"{value:.1f}" for value in load)
