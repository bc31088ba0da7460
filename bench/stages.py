"""What one measured child process runs: a single stage's logic, or the five pipeline steps in one process.

`python -m bench.stages <stage> --data CSV --dataset NAME --work DIR --result JSON`.
Each writes its own work time (after imports) to the result file; the parent measures
the process as a whole. The train stage reads the transform's output in the same `--work`.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any, Callable

from bench.measure import write_json
from components.common.specs import get_spec

STARTED = time.perf_counter()


def _usage() -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _timed(work: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    cpu_before, _ = _usage()
    started = time.perf_counter()
    value = work()
    cpu_after, peak = _usage()
    return value, {"work_s": time.perf_counter() - started, "work_cpu_s": cpu_after - cpu_before, "peak_rss_mb": peak}


def validate(args: argparse.Namespace) -> dict[str, Any]:
    from components.validate.task import validate_data

    imported = time.perf_counter() - STARTED
    spec = get_spec(args.dataset)
    summary, timing = _timed(
        lambda: validate_data(args.data, spec, args.work / "report.html", args.work / "summary.json")
    )
    return {"rows": summary.row_count, "import_s": imported, **timing}


def transform(args: argparse.Namespace) -> dict[str, Any]:
    from components.transform.task import run_transform

    imported = time.perf_counter() - STARTED
    spec = get_spec(args.dataset)
    result, timing = _timed(
        lambda: run_transform(
            str(args.data), spec, args.work / "transform_graph", args.work / "examples", args.work / "eval.csv"
        )
    )
    write_json(args.work / "transform.json", result)
    return {
        "rows": result.train_rows + result.validation_rows + result.eval_rows,
        "train_rows": result.train_rows,
        "import_s": imported,
        **timing,
    }


def train(args: argparse.Namespace) -> dict[str, Any]:
    import json

    from components.train.task import Hyperparameters, train_model

    imported = time.perf_counter() - STARTED
    spec = get_spec(args.dataset)
    fitted_rows = json.loads((args.work / "transform.json").read_text())["train_rows"]  # validation rows apart
    hyperparameters = Hyperparameters(epochs=args.epochs, early_stopping_patience=args.epochs)
    result, timing = _timed(
        lambda: train_model(
            spec, args.work / "transform_graph", args.work / "examples", args.work / "model", hyperparameters
        )
    )
    return {
        "rows": fitted_rows * result.epochs_run,
        "epochs": result.epochs_run,
        "fit_s": result.train_seconds,
        result.early_stopping_metric: result.best_val_metric,
        "import_s": imported,
        **timing,
    }


def pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """The five step functions in this one process, as the kfp pipeline chains them (settings from the environment)."""
    from components.common.content import ContentDigest
    from components.common.specs import spec_fingerprint
    from components.evaluate.task import GateSettings, run_evaluate_step
    from components.push.task import push_model
    from components.runs.settings import Settings
    from components.train.hyperparameters import Hyperparameters
    from components.train.step import run_train_step
    from components.transform.task import run_transform_step
    from components.validate.task import run_validate_step
    from pipelines.arguments import pipeline_arguments
    from pipelines.training_pipeline import training_pipeline

    imported = time.perf_counter() - STARTED
    settings = Settings.from_env()
    arguments = pipeline_arguments(settings)
    tolerance = training_pipeline.component_spec.inputs["champion_tolerance"].default
    uri, work = settings.mlflow_tracking_uri, args.work
    steps: dict[str, dict[str, float]] = {}
    (_, run_id, sha256, size, _), steps["validate"] = _timed(
        lambda: run_validate_step(
            settings.data_uri,
            settings.dataset,
            uri,
            settings.mlflow_experiment,
            f"bench-in-process-{time.time_ns()}",
            work / "validate" / "report.html",
            work / "validate" / "summary.json",
        )  # fmt: skip
    )
    _, steps["transform"] = _timed(
        lambda: run_transform_step(
            settings.data_uri,
            ContentDigest(sha256, size),
            settings.dataset,
            spec_fingerprint(settings.dataset),
            "DirectRunner",
            "[]",
            work / "transform_graph",
            work / "examples",
            work / "eval.csv",
            settings.s3_endpoint_url,
        )  # fmt: skip
    )
    _, steps["train"] = _timed(
        lambda: run_train_step(
            settings.dataset,
            work / "transform_graph",
            work / "examples",
            work / "model",
            Hyperparameters(epochs=settings.epochs),
            uri,
            run_id,
        )  # fmt: skip
    )
    evaluation, steps["evaluate"] = _timed(
        lambda: run_evaluate_step(
            work / "model",
            work / "eval.csv",
            settings.dataset,
            uri,
            run_id,
            settings.model_name,
            GateSettings(
                arguments["thresholds"],
                champion_tolerance=tolerance,
                baseline_margin=arguments["baseline_margin"],
            ),
            work / "evaluate",
        )  # fmt: skip
    )
    if evaluation.decision.blessed:
        _, steps["push"] = _timed(
            lambda: push_model(
                work / "model",
                settings.model_store_uri,
                settings.model_name,
                uri,
                run_id,
                endpoint_url=settings.s3_endpoint_url or None,
            )  # fmt: skip
        )
    return {"import_s": imported, "roc_auc": evaluation.metrics.roc_auc, "steps": steps}


STAGES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "validate": validate,
    "transform": transform,
    "train": train,
    "pipeline": pipeline,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    write_json(args.result, STAGES[args.stage](args))


if __name__ == "__main__":
    main()
