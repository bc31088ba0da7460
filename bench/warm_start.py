"""Warm start against cold on one new span (issue 23): epochs and wall time to the champion's metric.

nycflights, one daily span each: a champion is trained on a day, then the next day is trained twice from
the same transform output, from scratch and from the champion's weights (embedding rows moved by token,
components.train.warm_start). The target is the champion's best validation metric less the gate's default
champion tolerance. Both runs train every epoch (no early stopping), so the curves are whole; the time to
the target is the fit's seconds per epoch times the epochs to reach it, and the whole `train_model` call is
timed too (it includes, for the warm run, reading the champion and remapping its rows).

`python -m bench warm_start` measures (BENCH_SCALE picks how many pairs of days); the report's section is
`warm_start_section`.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.measure import Spread, write_json
from bench.report_format import fmt, reproduce, table

DATASET = "nycflights"
# Pairs of consecutive days (champion's, new span's), newest last; the first pair ends on the data's last day.
PAIRS = {"small": 1, "default": 3, "full": 7}
EPOCHS = 8
TOLERANCE = 0.01  # the gate's default champion tolerance
LAST_DAY = date(2013, 12, 31)


def _transformed(work: Path, day: date) -> Path:
    from components.common.specs import get_spec
    from components.transform.task import run_transform
    from pipelines.datasets import materialize_spans

    root = work / day.isoformat()
    (data,) = materialize_spans(DATASET, work / "spans", spans=1, until=day)
    if not (root / "graph").exists():
        run_transform(str(data), get_spec(DATASET), root / "graph", root / "examples", root / "eval.csv")
    return root


def _reached(curve: list[float], target: float, maximise: bool) -> int | None:
    return next(
        (epoch + 1 for epoch, value in enumerate(curve) if (value >= target if maximise else value <= target)), None
    )


def measure_pair(work: Path, new_day: date) -> dict[str, Any]:
    """Champion on the day before `new_day`; cold and warm on `new_day`."""
    from components.common.specs import get_spec
    from components.tasks import task_of
    from components.train.task import Hyperparameters, train_model
    from components.train.warm_start import Champion

    spec = get_spec(DATASET)
    maximise = task_of(spec).early_stopping_maximise
    hyperparameters = Hyperparameters(epochs=EPOCHS, early_stopping_patience=EPOCHS)
    old, new = _transformed(work, new_day - timedelta(days=1)), _transformed(work, new_day)
    champion = train_model(spec, old / "graph", old / "examples", old / "model", hyperparameters)
    target = champion.best_val_metric - TOLERANCE if maximise else champion.best_val_metric + TOLERANCE
    runs = {}
    for name, start in (("cold", "warm_start is 'none'"), ("warm", Champion("1", old / "model"))):
        started = time.perf_counter()
        result = train_model(spec, new / "graph", new / "examples", new / name, hyperparameters, champion=start)
        whole = time.perf_counter() - started
        curve = result.history[result.early_stopping_metric]
        epochs = _reached(curve, target, maximise)
        per_epoch = result.train_seconds / result.epochs_run
        runs[name] = {
            "epochs_to_target": epochs,
            "seconds_to_target": None if epochs is None else per_epoch * epochs,
            "train_model_s": whole,
            "fit_s": result.train_seconds,
            "curve": curve,
            "note": result.warm_start_note,
        }
        print(f"{new_day} {name}: {epochs} epoch(s) to {target:.4f}; {result.warm_start_note}", flush=True)
    return {
        "day": new_day.isoformat(),
        "metric": champion.early_stopping_metric,
        "champion_best": champion.best_val_metric,
        "target": target,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_start")
    parser.add_argument("--scale", default="small", choices=sorted(PAIRS))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    header = {"scale": args.scale, "epochs": EPOCHS, "tolerance": TOLERANCE, "load_average": os.getloadavg()}
    pairs = []
    for back in reversed(range(PAIRS[args.scale])):
        pairs.append(measure_pair(args.work, LAST_DAY - timedelta(days=back)))
        write_json(args.result, {**header, "pairs": pairs})
    return 0


def warm_start_section(data: dict[str, Any]) -> str:
    """BENCHMARKS.md's warm-start section: one row per pair of days and start, then the medians."""
    rows = []
    for pair in data["pairs"]:
        for name in ("cold", "warm"):
            run = pair["runs"][name]
            seconds = run["seconds_to_target"]
            rows.append([
                pair["day"], name, f"{pair['target']:.4f}",
                run["epochs_to_target"] or f"not in {data['epochs']}", "—" if seconds is None else f"{seconds:.1f}",
                f"{run['fit_s']:.1f}", f"{run['train_model_s']:.1f}", f"{max(run['curve']):.4f}",
            ])  # fmt: skip
    medians = []
    for name in ("cold", "warm"):
        epochs = [p["runs"][name]["epochs_to_target"] for p in data["pairs"]]
        seconds = [p["runs"][name]["seconds_to_target"] for p in data["pairs"]]
        if None not in epochs:
            medians.append(f"{name}: {fmt(Spread.of(epochs))} epochs, {fmt(Spread.of(seconds))} s of fit to the target")
    load = data.get("load_average")
    header = ["new span", "start", "target", "epochs to target", "fit s to target", "fit s", "train_model s", "best"]
    return f"""## Warm start against cold on a new span (issue 23)

nycflights, one day a span: a champion trained on the day before, then the new day trained from scratch and
from the champion's weights (embedding rows moved by token), {data["epochs"]} epochs each without early
stopping (`bench/warm_start.py`). Target: the champion's best {data["pairs"][0]["metric"]} less
{data["tolerance"]}. "fit s to target" is the fit's seconds per epoch times the epochs to the target;
"train_model s" is the whole call (reading the data, the champion and its remap, the export).
Load average (1, 5, 15 min) when it started: {", ".join(f"{v:.1f}" for v in load) if load else "unknown"}.

{table(header, rows)}

{"; ".join(medians) or "A start did not reach the target in every pair."}

{reproduce("warm_start", data)}
"""


if __name__ == "__main__":
    raise SystemExit(main())
