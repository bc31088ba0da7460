"""python -m bench {fetch,compare,pipeline,scaling,input,serving,formats,gpu,warm_start,scoring,quality,variants,
report,all}: measure, then report.

Each measuring command writes bench/results/<name>.json; `report` renders whatever is
there. BENCH_SCALE (small, default, full) picks the sizes and repeats, see bench/plan.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import compare, pipeline
from bench.formats import run_formats
from bench.measure import CommandFailed, Measurement, measure_command, python_module, write_json
from bench.plan import RESULTS, SCALED_STAGES, SCALES, TAXI_FILE, WORK, fetch, machine, taxi_sample
from components.runs.settings import PROJECT_ROOT


def _usage(measurement: Measurement) -> dict[str, float]:
    return {"wall_s": measurement.wall_s, "cpu_s": measurement.cpu_s, "peak_rss_mb": measurement.peak_rss_mb}


def _stage_argv(stage: str, data: Path, dataset: str, work: Path, result: Path) -> list[str]:
    """The command measuring one stage (bench/stages.py)."""
    options = ("--data", str(data), "--dataset", dataset, "--work", str(work), "--result", str(result))
    return python_module("bench.stages", stage, *options)


def run_fetch(args: argparse.Namespace) -> None:
    for size, path in fetch(args).items():
        print(f"{size:>9,} flights: {path}")


def run_pipeline(args: argparse.Namespace) -> None:
    """kfp.local against the five steps in one process, alternating, on the Chicago taxi file."""
    work = WORK / "pipeline"
    shutil.rmtree(work, ignore_errors=True)
    env = {
        "DATASET": "chicago_taxi",
        "DATA_URI": str(TAXI_FILE),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlruns' / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT": "bench",
        "MODEL_STORE_URI": str(work / "mlruns" / "model-store"),
        "PIPELINE_ROOT": str(work / "kfp-local"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    (work / "mlruns").mkdir(parents=True)
    runs: list[dict[str, Any]] = []
    for repeat in range(SCALES[args.scale].pipeline_repeats):
        log = work / f"kfp-{repeat}.log"
        measurement, steps = pipeline.run_kfp_local(env, log)
        runs.append(
            {
                "runner": "kfp.local",
                **_usage(measurement),
                "roc_auc": pipeline.auc_of_kfp_run(log),
                "steps": {
                    name: {"wall_s": s.wall_s, "cpu_s": s.cpu_s, "peak_rss_mb": s.peak_rss_mb}
                    for name, s in steps.items()
                },
            }
        )
        in_process = pipeline.run_in_process(env, work / f"in-process-{repeat}", work / f"in-process-{repeat}.log")
        runs.append({"runner": "one process", **_usage(in_process), **in_process.result})
        print(f"pipeline run {repeat + 1}: kfp.local {measurement.wall_s:.0f} s, one process {in_process.wall_s:.0f} s")
        write_json(RESULTS / "pipeline.json", {"scale": args.scale, "dataset": "chicago_taxi", "runs": runs})


def run_scaling(args: argparse.Namespace) -> None:
    """Validate, transform and train as separate processes on growing flights samples, and on taxi rows."""
    scale = SCALES[args.scale]
    flight_files = fetch(args)
    points: list[dict[str, Any]] = []
    # Smallest first, results written after every point: a run cut short still reports what it measured.
    inputs = [("chicago_taxi", size, taxi_sample(size)) for size in scale.taxi_sizes]
    inputs += [
        ("flights", size, flight_files[size]) for size in sorted(flight_files) if size in scale.sizes["validate"]
    ]
    for dataset, size, data in inputs:
        work = WORK / "scaling" / f"{dataset}-{size}"
        for stage in SCALED_STAGES:
            if dataset == "flights" and size not in scale.sizes[stage]:
                continue
            for repeat in range(scale.repeats if size <= scale.repeat_up_to else 1):
                if stage == "transform":
                    for output in ("transform_graph", "examples"):
                        shutil.rmtree(work / output, ignore_errors=True)
                result = work / f"{stage}.json"
                argv = _stage_argv(stage, data, dataset, work, result)
                measurement = measure_command(
                    argv, result_file=result, log=work / f"{stage}-{repeat}.log", env={"TF_CPP_MIN_LOG_LEVEL": "2"}
                )
                points.append(
                    {
                        "dataset": dataset,
                        "size": size,
                        "stage": stage,
                        "repeat": repeat,
                        **measurement.result,
                        **_usage(measurement),  # the whole process's CPU and peak memory
                    }
                )
                print(f"{stage} {dataset} {size}: {measurement.wall_s:.1f} s, {measurement.peak_rss_mb:.0f} MB")
                write_json(RESULTS / "scaling.json", {"scale": args.scale, "points": points})


def run_input(args: argparse.Namespace, name: str = "input_cpu", precisions: tuple[bool, ...] = (False,)) -> None:
    """The input-pipeline comparison on the flights transform output of `input_rows` rows."""
    scale = SCALES[args.scale]
    work = WORK / "scaling" / f"flights-{scale.input_rows}"
    if not (work / "transform.json").exists():
        data = fetch(args)[scale.input_rows]
        result = work / "transform-for-input.json"
        argv = _stage_argv("transform", data, "flights", work, result)
        measure_command(argv, result_file=result, log=work / "transform-input.log")
    runs = []
    for mixed_precision in precisions:
        result = WORK / f"{name}-{int(mixed_precision)}.json"
        argv = python_module(
            "bench.input_pipeline",
            "--work",
            str(work),
            "--dataset",
            "flights",
            "--result",
            str(result),
            "--epochs",
            str(scale.input_epochs),
        )
        measurement = measure_command(
            argv + (["--mixed-precision"] if mixed_precision else []),
            result_file=result,
            log=result.with_suffix(".log"),
        )
        runs.append(measurement.result)
    write_json(RESULTS / f"{name}.json", {"scale": args.scale, "rows": scale.input_rows, "runs": runs})


def run_gpu(args: argparse.Namespace) -> None:
    run_input(args, "input_gpu", (False, True))


def run_serving(args: argparse.Namespace) -> None:
    """Latency of the model the last one-process pipeline run exported, on its eval rows."""
    model = max((WORK / "pipeline").glob("in-process-*/model"), default=None)
    if model is None:
        raise FileNotFoundError("no pipeline model to serve: run `python -m bench pipeline` first")
    runs = []
    for repeat in range(max(SCALES[args.scale].repeats, 1) + 1):
        result = WORK / f"serving-{repeat}.json"
        argv = python_module(
            "bench.serving", "--model", str(model), "--rows", str(model.parent / "eval.csv"), "--result", str(result)
        )
        runs.append(measure_command(argv, result_file=result, log=result.with_suffix(".log")).result)
    write_json(RESULTS / "serving.json", {"scale": args.scale, "runs": runs})


def run_compare(args: argparse.Namespace) -> None:
    """Before and after (bench/compare.py): the baseline commit BENCH_BASELINE against this tree."""
    from pipelines.datasets import materialize_dataset

    # modeldata_taxi, the default dataset when the baseline was measured: its figures stay comparable.
    taxi_data = PROJECT_ROOT / "data" / "modeldata_taxi.csv"
    datasets = {"modeldata_taxi": taxi_data if taxi_data.exists() else materialize_dataset("modeldata_taxi", taxi_data)}
    if TAXI_FILE.exists():
        datasets["chicago_taxi"] = TAXI_FILE
    scale = SCALES[args.scale]
    compare.run_compare(
        os.environ.get("BENCH_BASELINE") or compare.BASELINE_REVISION,
        fetch(args)[max(scale.sizes["train"])],
        datasets,
        scale.pipeline_repeats,
        RESULTS / "compare.json",
    )


def run_warm_start(args: argparse.Namespace) -> None:
    """Warm start against cold on new nycflights spans (bench/warm_start.py), in a process of its own."""
    result = RESULTS / "warm_start.json"
    work = WORK / "warm_start"
    argv = python_module("bench.warm_start", "--scale", args.scale, "--work", str(work), "--result", str(result))
    measure_command(argv, result_file=result, log=work / "warm_start.log", env={"TF_CPP_MIN_LOG_LEVEL": "2"})


def run_scoring(args: argparse.Namespace) -> None:
    """Batch scoring's rows/s against the HTTP server's, and its peak memory at two sizes (bench/scoring.py)."""
    result = RESULTS / "scoring.json"
    work = WORK / "scoring"
    argv = python_module(
        "bench.scoring", "measure", "--scale", args.scale, "--work", str(work), "--result", str(result)
    )
    measure_command(argv, result_file=result, log=WORK / "scoring.log", env={"TF_CPP_MIN_LOG_LEVEL": "2"})


def run_quality(args: argparse.Namespace) -> None:
    """The pipeline's model against a gradient-boosted tree on every bundled dataset (bench/quality.py)."""
    result = RESULTS / "quality.json"
    argv = python_module("bench.quality", "--result", str(result))
    measure_command(argv, result_file=result, log=WORK / "quality.log", env={"TF_CPP_MIN_LOG_LEVEL": "2"})


def run_variants(args: argparse.Namespace) -> None:
    """Each compressed variant against the full model on three task types (bench/variants.py)."""
    result = RESULTS / "variants.json"
    argv = python_module("bench.variants", "--result", str(result))
    measure_command(argv, result_file=result, log=WORK / "variants.log", env={"TF_CPP_MIN_LOG_LEVEL": "2"})


def run_report(args: argparse.Namespace) -> None:
    from bench.report import write_report

    print(f"wrote {write_report(RESULTS, PROJECT_ROOT / 'BENCHMARKS.md')}")


def run_all(args: argparse.Namespace) -> int:
    """Every measurement, then the report; a section that fails is reported and the others still run."""
    load_at_start = os.getloadavg()
    started = time.perf_counter()
    failed = []
    # Scaling before input: it writes the flights transform output the input benchmark reads.
    for step in (
        run_compare,
        run_scaling,
        run_input,
        run_pipeline,
        run_serving,
        run_formats,
        run_scoring,
        run_warm_start,
        run_quality,
        run_variants,
    ):
        try:
            step(args)
        except (CommandFailed, OSError) as error:
            print(f"{step.__name__} failed: {error}", file=sys.stderr)
            failed.append(step.__name__)
    minutes = (time.perf_counter() - started) / 60
    write_json(RESULTS / "machine.json", {**machine(args), "load_average_at_start": load_at_start, "minutes": minutes})
    run_report(args)
    return 1 if failed else 0


COMMANDS = {
    "fetch": run_fetch,
    "compare": run_compare,
    "pipeline": run_pipeline,
    "scaling": run_scaling,
    "input": run_input,
    "serving": run_serving,
    "formats": run_formats,
    "gpu": run_gpu,
    "warm_start": run_warm_start,
    "scoring": run_scoring,
    "quality": run_quality,
    "variants": run_variants,
    "report": run_report,
    "all": run_all,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("BENCH_SCALE") or "default")
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args) or 0  # run_all says whether a section failed


if __name__ == "__main__":
    sys.exit(main())
