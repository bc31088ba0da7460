"""Batch scoring against the HTTP server, and scoring's peak memory at two input sizes (issue 23).

`python -m bench scoring` runs `python -m bench.scoring measure`, which:
1. trains modeldata_taxi's model briefly (transform, one epoch on its bundled rows) into a SQLite MLflow and a
   local model store, pushed as champion version 1 (no gate: the figures are throughput, not quality);
2. for each size, writes the input (the bundled rows without the label, repeated) and runs the step `make
   score` runs (`run_score_step`: model check, validation, Beam, Parquet, lineage) in a process of its own
   (`python -m bench.scoring score`), measured by bench/measure.py: wall time and peak resident memory;
3. times the HTTP server `make serve` runs over the same model at batch 256 (bench/serving_http.py).
Scoring's rows/s is the rows over the step's own time (the interpreter's start and imports are the process's
wall time less it); the server's is 256 rows over its median call on one kept-alive connection.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench.measure import measure_command, python_module, write_json
from bench.report_format import reproduce, table

SIZES = {"small": (20_000, 100_000), "default": (100_000, 1_000_000), "full": (100_000, 1_000_000)}
DATASET = "modeldata_taxi"
MODEL = "taxi-scoring-bench"
TARGET_RATIO = 10.0
HTTP_BATCH = "256"
COLUMNS = ["input rows", "step s", "of it validate s", "of it score s", "rows/s", "process wall s", "peak RSS MB"]


def prepare(work: Path) -> tuple[str, Path, Path]:
    """(tracking URI, the model's export, its eval rows): the champion every size is scored with."""
    from components.common import tracking
    from components.common.specs import get_spec
    from components.data.baseline import log_training_baseline
    from components.push.task import push_model
    from components.train.hyperparameters import Hyperparameters
    from components.train.step import run_train_step
    from components.transform.task import run_transform
    from pipelines.datasets import materialize_dataset

    spec = get_spec(DATASET)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    data = materialize_dataset(DATASET, work / "taxi.csv")
    run_id = tracking.start_pipeline_run(uri, "scoring-bench", "bench-scoring", {"epochs": 1})
    log_training_baseline(data, spec, str(data), uri, run_id)
    run_transform(str(data), spec, work / "graph", work / "examples", work / "eval.csv")
    hyperparameters = Hyperparameters(epochs=1, batch_size=256, hidden_units=(32, 16))
    run_train_step(DATASET, work / "graph", work / "examples", work / "model", hyperparameters, uri, run_id)
    push_model(work / "model", str(work / "store"), MODEL, uri, run_id, force_push=True)
    return uri, work / "model", work / "eval.csv"


def write_input(source: Path, rows: int, destination: Path) -> Path:
    """`rows` rows of `source` without the label, its rows repeated in order."""
    import pandas as pd

    from components.common.specs import get_spec

    label = list(get_spec(DATASET).label.source_columns)
    text = {name: object for name in pd.read_csv(source, nrows=0).columns}
    lines = pd.read_csv(source, dtype=text, keep_default_na=False).drop(columns=label).to_csv(index=False)
    header, *body = lines.splitlines(keepends=True)
    with destination.open("w", encoding="utf-8") as out:
        out.write(header)
        for start in range(0, rows, len(body)):
            out.writelines(body[: min(len(body), rows - start)])
    return destination


def score(args: argparse.Namespace) -> None:
    """The child process: one scoring run, its rows and the step's own seconds written to `--result`."""
    from components.score.task import run_score_step

    started = time.perf_counter()
    result = run_score_step(
        str(args.data), DATASET, MODEL, "", str(args.output), args.tracking_uri, "", "bench-scoring",
        args.work / "validation.html", args.work / "validation.json",
    )  # fmt: skip
    seconds = time.perf_counter() - started
    result_json = {"rows": result.rows_scored, "rejected": result.rows_rejected, "step_s": seconds}
    write_json(args.result, {**result_json, **_child_seconds(args.tracking_uri, result.mlflow_run_id)})


def _child_seconds(tracking_uri: str, run_id: str) -> dict[str, float]:
    """`<step>_s` of the step's MLflow child runs: `validate` (model check, staging, the suite), `score` (the rest)."""
    from components.common import tracking

    client = tracking.client(tracking_uri)
    parent = client.get_run(run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    return {f"{run.data.tags['step']}_s": (run.info.end_time - run.info.start_time) / 1000 for run in children}


def measure(args: argparse.Namespace) -> None:
    work: Path = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    load_at_start = os.getloadavg()
    uri, model, eval_rows = prepare(work)
    runs = []
    for size in args.sizes:
        data = write_input(work / "taxi.csv", size, work / f"input-{size}.csv")
        result = work / f"score-{size}.json"
        argv = python_module(
            "bench.scoring", "score", "--data", str(data), "--output", str(work / "scores"),
            "--tracking-uri", uri, "--work", str(work / f"score-{size}"), "--result", str(result),
        )  # fmt: skip
        (work / f"score-{size}").mkdir()
        measured = measure_command(argv, result_file=result, log=work / f"score-{size}.log")
        runs.append({"size": size, **measured.result, "wall_s": measured.wall_s, "peak_rss_mb": measured.peak_rss_mb})
        print(f"scored {size:,} rows: {measured.result['step_s']:.1f} s in the step, {measured.peak_rss_mb:.0f} MB")
        data.unlink()
    served = work / "http.json"
    argv = python_module("bench.serving_http", "--model", str(model), "--rows", str(eval_rows), "--result", str(served))
    http = measure_command(argv + ["--calls", "100"], result_file=served, log=work / "http.log").result
    write_json(
        args.result,
        {
            "scale": args.scale,
            "dataset": DATASET,
            "cores": os.cpu_count(),
            "runs": runs,
            "http": http,
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
    )


def scoring_section(data: dict[str, Any]) -> str:
    """BENCHMARKS.md's section: scoring's rows/s and memory per size beside the server's rows/s at batch 256."""
    runs = sorted(data["runs"], key=lambda run: run["size"])
    rows = [
        [f"{run['size']:,}", f"{run['step_s']:.1f}", _seconds(run, "validate_s"), _seconds(run, "score_s"),
         f"{run['size'] / run['step_s']:,.0f}", f"{run['wall_s']:.1f}", f"{run['peak_rss_mb']:,.0f}"]
        for run in runs
    ]  # fmt: skip
    p50 = data["http"][HTTP_BATCH]["p50_ms"]
    http_rate = int(HTTP_BATCH) * 1000 / p50
    largest, smallest = runs[-1], runs[0]
    ratio = largest["size"] / largest["step_s"] / http_rate
    growth = largest["peak_rss_mb"] / smallest["peak_rss_mb"]
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    load = ", ".join(f"{value:.1f}" for value in data["load_average_at_start"])
    load_end = ", ".join(f"{value:.1f}" for value in data["load_average_at_end"])
    return f"""## Batch scoring against the HTTP server (issue 23)

`make score`'s step (`run_score_step`: model check, validation without the label, Beam DirectRunner through
the MLflow model's signature in batches of 65,536, Parquet published whole, MLflow lineage) on {data["dataset"]}'s
bundled rows without the label, repeated to each size, one process per size; beside it the HTTP server `make
serve` runs over the same model, {data["http"][HTTP_BATCH]["calls"]} calls of {HTTP_BATCH} rows on one kept-alive
connection. `validate` and `score` are the step's MLflow child runs: the model check, staging and the suite;
then Beam, the output and the lineage. Load average (1, 5, 15 min) {load} at the start, {load_end} at the end,
on {data["cores"]} cores: a load above the core count means other work shared the machine and the times are
upper bounds.

{_table(runs, rows)}

HTTP server at batch {HTTP_BATCH}: p50 {p50:.1f} ms, {http_rate:,.0f} rows/s. Scoring at {largest["size"]:,} rows:
{ratio:.1f}× the server's rows/s (target ≥ {TARGET_RATIO:.0f}×: {verdict}). Peak memory {growth:.2f}× for
{largest["size"] / smallest["size"]:.0f}× the rows.

{reproduce("scoring", data)}
"""


def _seconds(run: dict[str, Any], name: str) -> str:
    return f"{run[name]:.1f}" if name in run else "—"


def _table(runs: list[dict[str, Any]], rows: list[list[str]]) -> str:
    """The rows; the child runs' columns only where some run measured them (results from before had none)."""
    if any("validate_s" in run for run in runs):
        return table(COLUMNS, rows)
    kept = [index for index, name in enumerate(COLUMNS) if not name.startswith("of it")]
    return table([COLUMNS[index] for index in kept], [[row[index] for index in kept] for row in rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scoring", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    measuring = commands.add_parser("measure", help="train, score each size, time the HTTP server")
    measuring.add_argument("--work", type=Path, required=True)
    measuring.add_argument("--result", type=Path, required=True)
    measuring.add_argument("--scale", default="default", choices=sorted(SIZES))
    measuring.add_argument("--sizes", type=lambda text: [int(size) for size in text.split(",")])
    scoring = commands.add_parser("score", help="one scoring run (the measured child process)")
    for name in ("--data", "--output", "--work", "--result"):
        scoring.add_argument(name, type=Path, required=True)
    scoring.add_argument("--tracking-uri", required=True)
    args = parser.parse_args(argv)
    if args.command == "score":
        score(args)
        return
    args.sizes = args.sizes or list(SIZES[args.scale])
    measure(args)


if __name__ == "__main__":
    main()
