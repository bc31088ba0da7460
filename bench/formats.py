"""Validate and transform from Parquet against CSV, and over 7 daily spans against one file (issue 22).

The same flights rows three ways: the CSV file the scaling section reads, one Parquet file of those rows
(the spec's types, as `make data SPANS=n` writes them), and the rows sorted by departure time and cut into
7 Parquet partitions `date=2001-01-01` .. `date=2001-01-07` read as `date={YYYY-MM-DD}/` with a window of 7
(the day names are labels: the cut is by row count, so each partition holds a seventh of the rows). Each
stage runs as its own process (bench/stages.py), measured whole; rows/s is rows over the stage's work time.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from bench.measure import measure_command, python_module, write_json
from bench.plan import RESULTS, SCALES, WORK, fetch
from components.common.specs import get_spec

STAGES = ("validate", "transform")
SPANS = 7
ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}


def layouts(csv_file: Path, root: Path) -> dict[str, str]:
    """{layout: DATA_URI} for the CSV file, one Parquet file, and 7 Parquet spans of the same rows."""
    spec = get_spec("flights")
    schema = pa.schema([(c.name, ARROW_TYPES[c.dtype]) for c in spec.columns])
    convert = pa_csv.ConvertOptions(column_types=schema)
    table = pa_csv.read_csv(csv_file, convert_options=convert).select(spec.column_names)
    single = root / "flights.parquet"
    spans = root / "spans"
    if not single.exists():
        root.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, single)
        ordered = table.sort_by("departure_time")
        step = -(-ordered.num_rows // SPANS)
        for day in range(SPANS):
            part = spans / f"date=2001-01-{day + 1:02d}" / "part-0.parquet"
            part.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(ordered.slice(day * step, step), part)
    return {"csv": str(csv_file), "parquet": str(single), "7 spans": f"{spans}/date={{YYYY-MM-DD}}/"}


def run_formats(args: argparse.Namespace) -> None:
    """Each layout through validate and transform, results written after every point."""
    rows = max(SCALES[args.scale].sizes["transform"])
    work = WORK / "formats" / str(rows)
    points: list[dict[str, Any]] = []
    for layout, data in layouts(fetch(args)[rows], work / "data").items():
        for stage in STAGES:
            out = work / layout.replace(" ", "-")
            shutil.rmtree(out / "examples", ignore_errors=True)
            shutil.rmtree(out / "transform_graph", ignore_errors=True)
            result = out / f"{stage}.json"
            options = ("--data", data, "--dataset", "flights", "--work", str(out), "--result", str(result))
            argv = python_module("bench.stages", stage, *options)
            measurement = measure_command(argv, result_file=result, log=out / f"{stage}.log")
            work_s = measurement.result["work_s"]
            points.append(
                {
                    "layout": layout,
                    "stage": stage,
                    "rows": measurement.result["rows"],
                    "work_s": work_s,
                    "rows_per_s": measurement.result["rows"] / work_s,
                    "wall_s": measurement.wall_s,
                    "peak_rss_mb": measurement.peak_rss_mb,
                }
            )
            print(f"{stage} {layout} {rows:,}: {work_s:.1f} s work, {measurement.peak_rss_mb:.0f} MB")
            write_json(RESULTS / "formats.json", {"scale": args.scale, "rows": rows, "points": points})
