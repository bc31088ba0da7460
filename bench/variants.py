"""python -m bench variants: each compressed variant (issue 26) against the full SavedModel it was made from.

Per dataset (modeldata_taxi, the project's bundled binary taxi data standing in for Chicago taxi; penguins,
multiclass; ames, regression) a model is transformed and trained by the real steps on a capped sample, made
the MLflow model train makes, and every variant kind built from it. Both are loaded as the MLflow pyfunc
serving runs in process and measured alike: size on disk (every file of the MLflow model), p50/p99 latency
of `predict` at batch 1 and 256 on eval rows, rows/s at batch 256, and the variant's headline metric on the
eval rows minus the full model's. Verdicts against the issue's targets: int8 size <= 0.35x and batch-1 p50
<= 0.5x the full model's, ROC AUC drop <= 0.005.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import write_json
from bench.plan import RESULTS, WORK
from bench.report_format import table

DATASETS = ("modeldata_taxi", "penguins", "ames")
KINDS = "float16,int8,int8_full,distilled"
ROWS_CAP = 3000
BATCH_CALLS = {1: 200, 256: 30}
SIZE_TARGET, LATENCY_TARGET, AUC_DROP = 0.35, 0.5, 0.005


def _train(dataset: str, root: Path) -> Any:
    """The candidate as the pipeline leaves it: transform, train (a few epochs), the MLflow model."""
    from components.common.specs import get_spec
    from components.train.hyperparameters import Hyperparameters
    from components.train.mlflow_model import make_mlflow_model, spec_inputs
    from components.train.task import train_model
    from components.transform.task import run_transform
    from components.variants.base import Candidate
    from pipelines.datasets import materialize_dataset

    spec = get_spec(dataset)
    data = materialize_dataset(dataset, root / f"{dataset}.csv")
    lines = data.read_text().splitlines(keepends=True)[: ROWS_CAP + 1]
    data.write_text("".join(lines))
    run_transform(str(data), spec, root / "graph", root / "examples", root / "eval.csv")
    hyperparameters = Hyperparameters(epochs=5, batch_size=64, hidden_units=(64, 32), learning_rate=0.005)
    train_model(spec, root / "graph", root / "examples", root / "model", hyperparameters)
    make_mlflow_model(root / "model", spec_inputs(spec), None, missing_values=spec.missing_values)
    return Candidate(spec, root / "model", root / "graph", root / "examples"), len(lines) - 1


def _latency(model: Any, frame: Any) -> dict[str, float]:
    """p50/p99 milliseconds of `predict` per batch size, and rows/s at the largest."""
    figures = {}
    for batch, calls in BATCH_CALLS.items():
        rows = frame.iloc[np.arange(batch) % len(frame)].reset_index(drop=True)
        model.predict(rows)  # the first call traces
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            model.predict(rows)
            times.append((time.perf_counter() - started) * 1000)
        figures[f"p50_ms_{batch}"] = float(np.percentile(times, 50))
        figures[f"p99_ms_{batch}"] = float(np.percentile(times, 99))
    largest = max(BATCH_CALLS)
    figures["rows_per_s"] = largest / figures[f"p50_ms_{largest}"] * 1000
    return figures


def _measure(model_dir: Path, spec: Any, dense: Any, targets: np.ndarray) -> dict[str, Any]:
    import mlflow.pyfunc

    from components.tasks import task_of
    from components.variants.gate import pyfunc_scorer, rows_frame
    from components.variants.packaging import size_bytes

    task = task_of(spec)
    metrics = task.metrics(targets, pyfunc_scorer(model_dir, spec)(dense))
    frame = rows_frame(dense, spec)
    model = mlflow.pyfunc.load_model(str(model_dir))
    return {
        "size_bytes": size_bytes(model_dir),
        "metric": metrics.headline().get(task.variant_metric),
        **_latency(model, frame),
    }


def measure_dataset(dataset: str, work: Path) -> dict[str, Any]:
    from components.evaluate.eval_rows import read_eval_columns
    from components.tasks import UnscorableOutputError, task_of
    from components.variants.base import VariantRefused
    from components.variants.kinds import parse_variants

    root = work / dataset
    shutil.rmtree(root, ignore_errors=True)  # an earlier run's models: variants are built into fresh folders
    started = time.perf_counter()
    candidate, rows = _train(dataset, root)
    spec, task = candidate.spec, task_of(candidate.spec)
    dense = read_eval_columns(root / "eval.csv", spec)
    targets = task.targets(spec.label.derive(dense))
    full = _measure(candidate.export_dir, spec, dense, targets)
    variants = []
    for variant in parse_variants(KINDS):
        try:
            built = variant.build(candidate, root / "variants" / variant.name)
        except VariantRefused as refused:
            variants.append({"name": variant.name, "refused": str(refused)})
            continue
        try:
            figures = _measure(built, spec, dense, targets)
        except UnscorableOutputError as error:  # the gate refuses it so too
            variants.append({"name": variant.name, "refused": f"its outputs: {error}"})
            continue
        tflite = built / "model.tflite"
        figures["tflite_bytes"] = tflite.stat().st_size if tflite.exists() else None
        variants.append({"name": variant.name, **figures})
    return {
        "dataset": dataset,
        "task": task.kind,
        "metric_name": task.variant_metric,
        "rows": rows,
        "eval_rows": int(targets.shape[0]),
        "full": full,
        "variants": variants,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.variants")
    parser.add_argument("--result", type=Path, default=RESULTS / "variants.json")
    parser.add_argument("--work", type=Path, default=WORK / "variants")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="measure these; keep the file's others")
    args = parser.parse_args()
    measured = args.datasets.split(",")
    kept = json.loads(args.result.read_text())["datasets"] if args.result.exists() else []
    results = [result for result in kept if result["dataset"] not in measured]
    for dataset in measured:
        load = os.getloadavg()
        results.append({**measure_dataset(dataset, args.work), "load_average": load})
        results.sort(key=lambda result: DATASETS.index(result["dataset"]))
        write_json(args.result, {"datasets": results})  # a cut run keeps what it measured


def _verdicts(name: str, figures: dict[str, Any], full: dict[str, Any], data: dict[str, Any]) -> str:
    said = []
    if name == "int8":
        size = figures["size_bytes"] / full["size_bytes"]
        said.append(f"size {size:.2f}x {'met' if size <= SIZE_TARGET else 'MISSED'}")
        speed = figures["p50_ms_1"] / full["p50_ms_1"]
        said.append(f"batch-1 p50 {speed:.2f}x {'met' if speed <= LATENCY_TARGET else 'MISSED'}")
    if data["metric_name"] == "roc_auc" and figures["metric"] is not None:
        drop = full["metric"] - figures["metric"]
        said.append(f"AUC drop {drop:+.4f} {'met' if drop <= AUC_DROP else 'MISSED'}")
    return "; ".join(said) or "—"


def variants_section(data: dict[str, Any]) -> str:
    rows = []
    for result in data["datasets"]:
        full = result["full"]
        for name, figures in [("full SavedModel", full), *((v["name"], v) for v in result["variants"])]:
            head = [result["dataset"], name]
            if "refused" in figures:
                rows.append([*head, f"refused: {figures['refused']}", *["—"] * 5])
                continue
            tflite = f" ({figures['tflite_bytes']:,} model)" if figures.get("tflite_bytes") else ""
            delta = "" if figures is full else f" ({figures['metric'] - full['metric']:+.4f})"
            rows.append(
                [
                    *head,
                    f"{figures['size_bytes']:,}{tflite} = {figures['size_bytes'] / full['size_bytes']:.2f}x",
                    f"{figures['p50_ms_1']:.2f} / {figures['p99_ms_1']:.2f}",
                    f"{figures['p50_ms_256']:.1f} / {figures['p99_ms_256']:.1f}",
                    f"{figures['rows_per_s']:,.0f}",
                    f"{result['metric_name']} {figures['metric']:.4f}{delta}",
                    "—" if figures is full else _verdicts(name, figures, full, result),
                ]
            )
    header = ["dataset", "model", "bytes on disk (ratio)", "batch 1 p50 / p99 ms", "batch 256 p50 / p99 ms"]
    header += ["rows/s (256)", "eval metric (delta)", "targets"]
    datasets = ", ".join(
        f"{r['dataset']} ({r['task']}, {r['rows']:,} rows, {r['eval_rows']} eval; load average at its start "
        f"{', '.join(f'{value:.1f}' for value in r['load_average'])})"
        for r in data["datasets"]
    )
    return f"""## Compressed variants against the full model (issue 26)

Per dataset — {datasets} — a model (64-32 units, 5 epochs) made by the real transform and train code, and
each variant built from it (`bench/variants.py`); modeldata_taxi is the bundled binary taxi dataset, standing
in for the Chicago taxi model. Both answer through their MLflow pyfunc in process (the request frame, the
transform graph in TensorFlow, the model: TensorFlow or LiteRT, the outputs); latency is `predict` on eval
rows. Bytes on disk are all the MLflow model's files (a quantized variant keeps the transform graph as a
SavedModel beside its `.tflite`, whose own size is in parentheses). Targets: int8 size <= {SIZE_TARGET}x and
batch-1 p50 <= {LATENCY_TARGET}x the full model's, ROC AUC drop <= {AUC_DROP}. Load averages are 1, 5, 15 min.

{table(header, rows)}

Reproduce: `.venv/bin/python -m bench variants` (then `python -m bench report`)
"""


if __name__ == "__main__":
    main()
