"""BENCHMARKS.md's data-layout section: validate and transform from CSV, Parquet and 7 Parquet spans."""

from __future__ import annotations

from typing import Any

from bench.report_format import reproduce, table


def formats_section(data: dict[str, Any]) -> str:
    points = {(p["layout"], p["stage"]): p for p in data["points"]}
    layouts = list(dict.fromkeys(p["layout"] for p in data["points"]))
    rows = [
        [layout, stage, f"{p['rows']:,}", f"{p['work_s']:.1f}", f"{p['rows_per_s']:,.0f}", f"{p['peak_rss_mb']:,.0f}"]
        for layout in layouts
        for stage in ("validate", "transform")
        if (p := points.get((layout, stage)))
    ]

    def total(layout: str) -> float | None:
        found = [points.get((layout, stage)) for stage in ("validate", "transform")]
        return None if None in found else sum(p["work_s"] for p in found)

    csv, parquet, spans = total("csv"), total("parquet"), total("7 spans")
    ratios = []
    if csv and parquet:
        ratios.append(f"Parquet against CSV, validate + transform: {csv / parquet:.2f}x as fast (target ≥ 1.5x).")
    if parquet and spans:
        ratios.append(
            f"7 spans against one Parquet file of the same rows: {spans / parquet:.2f}x its time (target ≤ 1.1x)."
        )
    header = ["layout", "stage", "rows", "work s", "rows/s", "peak MB"]
    return f"""## 5. Data layouts: CSV, Parquet, 7 daily spans

The same {data["rows"]:,} flights rows as the CSV file the scaling section reads, as one Parquet file, and
as 7 Parquet partitions read through `date={{YYYY-MM-DD}}/` with a window of 7 (`bench/formats.py`). Each stage
is its own process; work time excludes imports, peak memory is the process's. One run per point.

{table(header, rows)}

{" ".join(ratios)}

{reproduce("formats", data)}
"""
