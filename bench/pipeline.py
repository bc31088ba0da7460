"""The whole pipeline, two ways: kfp.local (a fresh Python per step) and the five step functions in one process.

The kfp.local run is measured as a whole by `measure_command`, and per step by
sampling /proc for its descendants: each step's processes are found by the
`--function_to_execute <step>` of their command line (Linux only).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Measurement, measure_command, python_module

STEPS = ("validate", "transform", "tune", "train", "evaluate", "push")
SAMPLE_EVERY_S = 0.5
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class StepUsage:
    """What the sampler saw of one step's processes: first and last sight, CPU, peak RSS."""

    first_s: float
    last_s: float
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def wall_s(self) -> float:
        return self.last_s - self.first_s


def step_of(cmdline: list[str]) -> str | None:
    """The kfp step a process runs, from the executor's `--function_to_execute <name>` argument."""
    for flag, value in zip(cmdline, cmdline[1:]):
        if flag == "--function_to_execute" and value in STEPS:
            return value
    return None


def _processes() -> dict[int, tuple[int, float]]:
    """pid → (parent pid, CPU seconds) for every process we can read."""
    found: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def _descendants(root: int, processes: dict[int, tuple[int, float]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class StepSampler(threading.Thread):
    """Samples the descendants of `root` until stopped; per-pid CPU and VmHWM, folded per step."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self._root = root
        self._stopped = threading.Event()
        self._seen: dict[int, tuple[str, float, float, float, float]] = {}  # pid → step, first, last, cpu, peak

    def run(self) -> None:
        while not self._stopped.wait(SAMPLE_EVERY_S):
            now = time.perf_counter()
            processes = _processes()
            for pid in _descendants(self._root, processes):
                try:
                    step = step_of(Path(f"/proc/{pid}/cmdline").read_text().split("\0"))
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                if step is None:
                    continue
                peak = next(
                    (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM")), 0
                )
                first = self._seen.get(pid, (step, now))[1]
                self._seen[pid] = (step, first, now, processes[pid][1], peak)

    def stop(self) -> dict[str, StepUsage]:
        self._stopped.set()
        self.join()
        usage: dict[str, StepUsage] = {}
        for step, first, last, cpu, peak in self._seen.values():
            item = usage.setdefault(step, StepUsage(first, last))
            item.first_s, item.last_s = min(item.first_s, first), max(item.last_s, last)
            item.cpu_s += cpu
            item.peak_rss_mb = max(item.peak_rss_mb, peak)
        return usage


def run_kfp_local(env: dict[str, str], log: Path) -> tuple[Measurement, dict[str, StepUsage]]:
    """`python -m pipelines run` measured whole, and per step by sampling."""
    sampler: list[StepSampler] = []

    def started(pid: int) -> None:
        sampler.append(StepSampler(pid))
        sampler[0].start()

    measurement = measure_command(python_module("pipelines", "run"), env=env, log=log, on_start=started)
    return measurement, sampler[0].stop()


def run_in_process(env: dict[str, str], work: Path, log: Path) -> Measurement:
    """The five step functions called one after another in one Python process (bench.stages pipeline)."""
    result = work / "in-process.json"
    args = (
        "pipeline",
        "--dataset",
        env["DATASET"],
        "--data",
        env["DATA_URI"],
        "--work",
        str(work),
        "--result",
        str(result),
    )
    return measure_command(python_module("bench.stages", *args), result_file=result, env=env, log=log)


def auc_of_kfp_run(log: Path) -> float | None:
    """ROC AUC from the run summary that `python -m pipelines run` prints."""
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("metrics") and "roc_auc=" in line:
            return float(line.split("roc_auc=")[1].split()[0])
    return None
