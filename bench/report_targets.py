"""BENCHMARKS.md's targets: each wanted figure against the measured one, and why a missed one is missed."""

from __future__ import annotations

from bench.report_format import exponent, table

TFX_TAXI_WALL_S = (116.0, 127.0)  # ../shared/data/README.md: TFX 1.21's taxi pipeline on this file, same machine type
TARGETS = {"wall_fraction_of_tfx": 0.5, "min_auc": 0.95, "overhead": 0.15, "input_ratio": 0.9, "exponent": 1.1}


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
