"""The 3,000,000 US flights of the npm package vega-datasets, as CSV files of the sizes benchmarked.

`npm pack` fetches the package tarball into a gitignored cache (nothing is installed,
nothing is committed); its `data/flights-3m.parquet` is shuffled once with a fixed
seed (the file is sorted by date) and the first N rows are written as CSV, so every
size is a uniform sample of the same six months and smaller files nest in larger ones.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

PACKAGE = "vega-datasets"
VERSION = "3.2.1"
MEMBER = "package/data/flights-3m.parquet"
SEED = 0
# The CSV columns, in the order of the flights DatasetSpec.
COLUMNS = ("departure_time", "delay", "distance", "origin", "destination")


def fetch_parquet(cache_dir: Path) -> Path:
    """The package's parquet file, fetched with `npm pack` on first use."""
    parquet = cache_dir / "flights-3m.parquet"
    if parquet.exists():
        return parquet
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / f"{PACKAGE}-{VERSION}.tgz"
    if not tarball.exists():
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=cache_dir, check=True)
    with tarfile.open(tarball) as archive:
        source = archive.extractfile(MEMBER)
        if source is None:
            raise FileNotFoundError(f"{tarball}: no {MEMBER}")
        partial = parquet.with_suffix(".part")
        partial.write_bytes(source.read())
    partial.rename(parquet)
    return parquet


def read_flights(parquet: Path) -> pa.Table:
    """The flights as the spec's columns: departure time in Unix seconds, delay and distance, airports."""
    table = pq.read_table(parquet, columns=["date", "delay", "distance", "origin", "destination"])
    return pa.table(
        {
            "departure_time": table["date"].cast(pa.timestamp("s")).cast(pa.int64()),
            "delay": table["delay"],
            "distance": table["distance"],
            "origin": table["origin"].cast(pa.string()),
            "destination": table["destination"].cast(pa.string()),
        }
    )


def write_samples(table: pa.Table, sizes: list[int], out_dir: Path) -> dict[int, Path]:
    """CSV files of the first N rows of one seeded shuffle, for each size; existing files are kept."""
    out_dir.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(SEED).permutation(table.num_rows)
    paths: dict[int, Path] = {}
    for size in sizes:
        if size > table.num_rows:
            raise ValueError(f"asked for {size} flights; the file has {table.num_rows}")
        path = out_dir / f"flights-{size}.csv"
        if not path.exists():
            partial = path.with_suffix(".part")
            pa_csv.write_csv(table.take(order[:size]), partial, pa_csv.WriteOptions(quoting_style="none"))
            partial.rename(path)
        paths[size] = path
    return paths


def flights_csvs(cache_dir: Path, sizes: list[int]) -> dict[int, Path]:
    """Fetch once, then the CSV file for each size."""
    return write_samples(read_flights(fetch_parquet(cache_dir)), sizes, cache_dir / "csv")
