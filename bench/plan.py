"""What `python -m bench` measures and where: BENCH_SCALE's sizes and repeats, the input files, the machine.

The measuring commands (bench/__main__.py) read their sizes from SCALES and their inputs from here.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import flights
from components.runs.settings import PROJECT_ROOT

CACHE = PROJECT_ROOT / "build" / "bench-cache"
WORK = PROJECT_ROOT / "build" / "bench"
RESULTS = PROJECT_ROOT / "bench" / "results"
TAXI_FILE = PROJECT_ROOT.parent / "shared" / "data" / "chicago_taxi" / "data.csv"
SCALED_STAGES = ("validate", "transform", "train")


@dataclass(frozen=True)
class Scale:
    """How much to measure: flights sizes per stage, taxi sizes, and repeats."""

    sizes: dict[str, tuple[int, ...]]
    taxi_sizes: tuple[int, ...]
    repeats: int  # runs per point up to `repeat_up_to` rows; larger points run once
    repeat_up_to: int
    pipeline_repeats: int
    input_rows: int
    input_epochs: int


SCALES = {
    # A quick check, one run per point: transform and train stop at 100k rows; validate still reaches 3M.
    "small": Scale(
        sizes={
            "validate": (10_000, 100_000, 1_000_000, 3_000_000),
            "transform": (10_000, 100_000),
            "train": (10_000, 100_000),
        },
        taxi_sizes=(10_000,),
        repeats=1,
        repeat_up_to=0,
        pipeline_repeats=1,
        input_rows=100_000,
        input_epochs=6,
    ),
    # Aims at 30 minutes on a quiet 2-core machine: transform and train stop at 1M rows (3M would add ~20 min).
    "default": Scale(
        sizes={
            "validate": (10_000, 100_000, 1_000_000, 3_000_000),
            "transform": (10_000, 100_000, 1_000_000),
            "train": (10_000, 100_000, 1_000_000),
        },
        taxi_sizes=(10_000, 15_002),
        repeats=2,
        repeat_up_to=10_000,
        pipeline_repeats=2,
        input_rows=100_000,
        input_epochs=8,
    ),
    "full": Scale(
        sizes={stage: (10_000, 100_000, 1_000_000, 3_000_000) for stage in SCALED_STAGES},
        taxi_sizes=(10_000, 15_002),
        repeats=3,
        repeat_up_to=100_000,
        pipeline_repeats=3,
        input_rows=1_000_000,
        input_epochs=6,
    ),
}


def fetch(args: argparse.Namespace) -> dict[int, Path]:
    """The flights CSV file of every size this scale measures."""
    scale = SCALES[args.scale]
    sizes = sorted({size for sizes in scale.sizes.values() for size in sizes} | {scale.input_rows})
    return flights.flights_csvs(CACHE, sizes)


def taxi_sample(rows: int) -> Path:
    """The first `rows` rows of the Chicago taxi file (all of it when it has no more)."""
    if not TAXI_FILE.exists():
        raise FileNotFoundError(f"{TAXI_FILE}: the shared Chicago taxi file is missing (see ../shared/data/README.md)")
    lines = TAXI_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    if rows >= len(lines) - 1:
        return TAXI_FILE
    path = CACHE / "csv" / f"chicago_taxi-{rows}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines[: rows + 1]), encoding="utf-8")
    return path


def machine(args: argparse.Namespace) -> dict[str, Any]:
    """What the numbers were measured on, including how busy it was."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text().split()
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1),
        "python": platform.python_version(),
        "load_average_at_end": os.getloadavg(),
        "scale": args.scale,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
