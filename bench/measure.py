"""Measuring a command in a child process: wall time, CPU time and peak resident memory.

`os.wait4` returns the child's resource usage, which Linux totals over the child and
every descendant it waited for (CPU), and takes the largest of them (peak RSS).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Measurement:
    """One run of a command; `result` is what the command wrote to its result file (if any)."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    result: dict[str, Any]


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated measurements."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values), len(values))


class CommandFailed(RuntimeError):
    """A measured command exited with an error."""


def measure_command(
    argv: Sequence[str],
    result_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    cwd: Path | None = None,
) -> Measurement:
    """Run `argv` to completion (in `cwd`, default this one); raises CommandFailed (with the log's tail) on a
    non-zero exit. `on_start` is called with the child's pid as soon as it runs.
    """
    if result_file is not None:
        result_file.unlink(missing_ok=True)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "w", encoding="utf-8") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    started = time.perf_counter()
    try:
        child = subprocess.Popen(
            list(argv), env={**os.environ, **(env or {})}, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        if on_start is not None:
            on_start(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        if log:
            out.close()
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = log.read_text(encoding="utf-8")[-3000:] if log else ""
        raise CommandFailed(f"{' '.join(argv)} exited with {child.returncode}\n{tail}")
    result = json.loads(result_file.read_text()) if result_file is not None else {}
    return Measurement(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, result)


def python_module(module: str, *args: str) -> list[str]:
    """The command line running `module` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def growth_exponent(rows: Sequence[float], values: Sequence[float]) -> float:
    """Slope b of the least-squares fit log(value) = a + b·log(rows): cost grows as rows^b."""
    if len(rows) < 2:
        raise ValueError("a growth exponent needs at least two sizes")
    slope, _ = np.polyfit(np.log(np.asarray(rows, float)), np.log(np.asarray(values, float)), 1)
    return float(slope)


def write_json(path: Path, payload: Any) -> None:
    """Dataclasses become dicts; the file is replaced whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_plain) + "\n", encoding="utf-8")


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
