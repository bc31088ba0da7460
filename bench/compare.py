"""Before and after, side by side: the same measurements on a baseline commit and on this tree, alternating.

`python -m bench compare` (BENCH_BASELINE=<git revision>, default `BASELINE_REVISION`) checks the
baseline out as a git worktree under build/bench-baseline/ and runs each measurement there and here in
turn, with this environment's packages, so that both sides see the same machine load. Three variants:

- `before`: the baseline's code, started as its own `make setup` left the environment: installed
  packages without compiled bytecode (a bytecode cache prefix holding only the standard library's),
  so each process compiled TensorFlow's, Beam's, GX's and MLflow's sources again when
  PYTHONDONTWRITEBYTECODE was set, as it is on our machines.
- `before, compiled`: the baseline's code on the byte-compiled environment: what the code changes did.
- `after`: this tree.

Measured: each step module's start-up (a fresh Python importing it), the whole `make run` on the default
dataset and on the Chicago taxi file (each step's wall from the run's step lines, its peak memory by
sampling /proc), tf.Transform's rows/s and one training epoch's examples/s on flights, and the training
input path against its in-memory bound.
"""

from __future__ import annotations

import compileall
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import pipeline
from bench.measure import measure_command, python_module, write_json
from components.runs.settings import PROJECT_ROOT

BASELINE_REVISION = "32a42f1"  # main as issue 15 found it
STEP_MODULES = {
    "kfp executor": "kfp.dsl.executor_main",
    "validate": "components.validate.task",
    "transform": "components.transform.task",
    "tune": "components.tune.task",
    "train": "components.train.step",
    "evaluate": "components.evaluate.task",
    "push": "components.push.task",
}
_STEP_LINE = re.compile(r"^(\w+)\s+ok\s+(?:(\d+)m)?([\d.]+)s\b")  # pipelines.progress.duration: 5.5s, 1m10s


@dataclass(frozen=True)
class Variant:
    """One side of the comparison: which tree's code runs, and whether installed packages have bytecode."""

    name: str
    root: Path
    compiled: bool

    @property
    def slug(self) -> str:
        return self.name.replace(", ", "-")


@dataclass(frozen=True)
class Runner:
    """Runs commands as a variant: from its tree, its packages first on PYTHONPATH (kfp.local's steps
    inherit both), logs under `work`."""

    work: Path
    stdlib_only_cache: Path

    def env(self, variant: Variant, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {"PYTHONPATH": str(variant.root), "TF_CPP_MIN_LOG_LEVEL": "2", **(extra or {})}
        if not variant.compiled:
            env |= {"PYTHONPYCACHEPREFIX": str(self.stdlib_only_cache), "PYTHONDONTWRITEBYTECODE": "1"}
        return env

    def log(self, variant: Variant, label: str) -> Path:
        return self.work / "logs" / f"{label}-{variant.slug}.log"

    def measure(
        self,
        variant: Variant,
        argv: list[str],
        label: str,
        result: Path | None = None,
        env: dict[str, str] | None = None,
        on_start: Callable[[int], None] | None = None,
    ):
        return measure_command(
            argv,
            result_file=result,
            env=self.env(variant, env),
            log=self.log(variant, label),
            on_start=on_start,
            cwd=variant.root,
        )


def baseline_tree(revision: str) -> Path:
    """The baseline's worktree, checked out once into build/ and reused."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short=12", f"{revision}^{{commit}}"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree = PROJECT_ROOT / "build" / "bench-baseline" / sha
    if not (tree / "components").is_dir():
        shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=PROJECT_ROOT, check=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=PROJECT_ROOT, check=True)
    return tree


def stdlib_only_cache(path: Path) -> Path:
    """A bytecode cache prefix with the standard library compiled and nothing else (built once)."""
    marker = path / ".complete"
    if not marker.exists():
        previous = sys.pycache_prefix
        sys.pycache_prefix = str(path)
        try:
            with warnings.catch_warnings():  # the standard library's own test files warn about their syntax
                warnings.simplefilter("ignore")
                compileall.compile_dir(sysconfig.get_paths()["stdlib"], quiet=2, workers=0)
        finally:
            sys.pycache_prefix = previous
        marker.touch()
    return path


def startup(runner: Runner, variant: Variant, repeats: int) -> dict[str, list[float]]:
    """Seconds a fresh Python takes to import each step's module."""
    seconds: dict[str, list[float]] = {}
    for step, module in STEP_MODULES.items():
        argv, label = [sys.executable, "-c", f"import {module}"], f"import-{step.replace(' ', '-')}"
        seconds[step] = [runner.measure(variant, argv, label).wall_s for _ in range(repeats)]
    return seconds


def step_walls(log: Path) -> dict[str, float]:
    """Each step's seconds from the run's `<step> ok <seconds>s` lines."""
    walls = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        if match := _STEP_LINE.match(line):
            walls[match.group(1)] = 60 * int(match.group(2) or 0) + float(match.group(3))
    return walls


def whole_run(runner: Runner, variant: Variant, dataset: str, data: Path) -> dict[str, Any]:
    """`python -m pipelines run` on a fresh MLflow store (as on a fresh clone): wall, CPU, and per step
    the wall it printed and its peak memory."""
    store = Path(tempfile.mkdtemp(prefix="run-", dir=runner.work))
    env = {
        "DATASET": dataset,
        "DATA_URI": str(data),
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "MODEL_STORE_URI": str(store / "model-store"),
        "PIPELINE_ROOT": str(store / "kfp-local"),
    }
    samplers: list[pipeline.StepSampler] = []

    def started(pid: int) -> None:
        samplers.append(pipeline.StepSampler(pid))
        samplers[0].start()

    label = f"run-{dataset}"
    measurement = runner.measure(variant, python_module("pipelines", "run"), label, env=env, on_start=started)
    usage = samplers[0].stop()
    log = runner.log(variant, label)
    shutil.rmtree(store, ignore_errors=True)
    return {
        "wall_s": measurement.wall_s,
        "cpu_s": measurement.cpu_s,
        "peak_rss_mb": measurement.peak_rss_mb,
        "roc_auc": pipeline.auc_of_kfp_run(log),
        "steps": {
            step: {"wall_s": wall, "peak_rss_mb": usage[step].peak_rss_mb if step in usage else None}
            for step, wall in step_walls(log).items()
        },
    }


def stage(runner: Runner, variant: Variant, name: str, data: Path, epochs: int = 1) -> dict[str, Any]:
    """A bench.stages stage on flights in the variant's own folder (train reads its own transform's output)."""
    work = runner.work / f"flights-{variant.slug}"
    if name == "transform":
        shutil.rmtree(work, ignore_errors=True)
    result = work / f"{name}.json"
    options = ["--data", str(data), "--dataset", "flights", "--work", str(work), "--result", str(result)]
    argv = python_module("bench.stages", name, *options, "--epochs", str(epochs))
    measurement = runner.measure(variant, argv, f"{name}-{data.stem}", result)
    return {**measurement.result, "process_wall_s": measurement.wall_s, "process_peak_rss_mb": measurement.peak_rss_mb}


def input_path(runner: Runner, variant: Variant, epochs: int) -> dict[str, Any]:
    """The variant's own bench.input_pipeline (its tf.data path against the bound) on its flights output."""
    result = runner.work / f"input-{variant.slug}.json"
    work = runner.work / f"flights-{variant.slug}"
    options = ["--work", str(work), "--dataset", "flights", "--result", str(result), "--epochs", str(epochs)]
    return runner.measure(variant, python_module("bench.input_pipeline", *options), "input", result).result


def run_compare(revision: str, flights_file: Path, datasets: dict[str, Path], repeats: int, out: Path) -> None:
    """Every measurement, variants interleaved; the results file is rewritten after each, so a run cut
    short still reports what it measured."""
    work = PROJECT_ROOT / "build" / "bench" / "compare"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    runner = Runner(work, stdlib_only_cache(PROJECT_ROOT / "build" / "bench-cache" / "stdlib-bytecode"))
    tree = baseline_tree(revision)
    before, compiled = Variant("before", tree, False), Variant("before, compiled", tree, True)
    after = Variant("after", PROJECT_ROOT, True)
    results: dict[str, Any] = {
        "baseline": revision,
        "load_average_at_start": os.getloadavg(),
        "flights_rows": int(flights_file.stem.split("-")[-1]),
        "startup": {},
        "runs": {},
        "transform": {},
        "train": {},
        "input": {},
    }

    def save(section: str, key: str, value: Any) -> None:
        results[section].setdefault(key, []).append(value)
        results["load_average_at_end"] = os.getloadavg()
        write_json(out, results)

    for variant in (before, compiled, after):
        for step, seconds in startup(runner, variant, repeats).items():
            results["startup"].setdefault(variant.name, {})[step] = seconds
        write_json(out, results)
    for repeat in range(repeats):
        for dataset, data in datasets.items():
            # The uncompiled baseline once: its start-up is measured above, its run only confirms it.
            for variant in (before, compiled, after) if repeat == 0 else (compiled, after):
                run = whole_run(runner, variant, dataset, data)
                save("runs", f"{dataset} / {variant.name}", run)
                print(f"make run {dataset}, {variant.name}: {run['wall_s']:.0f} s")
    for variant in (compiled, after):
        transformed = stage(runner, variant, "transform", flights_file)
        save("transform", variant.name, transformed)
        trained = stage(runner, variant, "train", flights_file)
        save("train", variant.name, trained)
        print(f"flights, {variant.name}: transform {transformed['work_s']:.0f} s, one epoch {trained['work_s']:.0f} s")
    for variant in (compiled, after):
        save("input", variant.name, input_path(runner, variant, epochs=3))
