"""The one reader's rows as pandas frames for the training baseline and the drift check.

With a spec, each column as the spec types it (components/data/reader.py); without one (a baseline built
from a bare file), every column as found, and a column whose every present value is a number read as
numbers by the reader's rules for numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from components.common.specs.base import MAX_LINE_BYTES, MISSING_VALUES, Column, DatasetSpec
from components.data.reader import read_batches, read_text_frames, to_frame
from components.data.sources import DataSource, resolve_source
from components.data.values import FLOAT32_MAX, RawDataError

CSV_CHUNK_ROWS = 100_000


def read_data_batches(data: Path | str | DataSource, spec: DatasetSpec | None = None) -> Iterator[pd.DataFrame]:
    """The data (a file, folder or glob) through the one reader, `CSV_CHUNK_ROWS` rows a batch.

    With a spec, its columns as its types; without one, every column as found, a column whose every present
    value is a number as numbers (float64), the default missing spellings read as missing.
    """
    source = data if isinstance(data, DataSource) else resolve_source(str(data))
    if spec is not None:
        for batch in read_batches(source, spec, batch_rows=CSV_CHUNK_ROWS, image_bytes=False):
            yield to_frame(batch)
        return
    for frame in read_text_frames(source, frozenset(MISSING_VALUES), MAX_LINE_BYTES, CSV_CHUNK_ROWS):
        yield numbers_where_all_parse(frame)


def numbers_where_all_parse(
    frame: pd.DataFrame,
    names: Iterable[str] | None = None,
    missing: frozenset[str] = frozenset(MISSING_VALUES),
    spec: DatasetSpec | None = None,
) -> pd.DataFrame:
    """Text columns (of `names`, or all) whose every present value is a number, as float64.

    As the reader reads numbers: spaces around are stripped and a `missing` spelling is then missing.
    With the `spec`, its number columns' rules hold too: a non-finite number (or one beyond float32's
    range) is missing where the column declares non_finite="missing" and refused otherwise, as is a
    fraction in an int column (RawDataError naming the column).
    """
    for name in frame.columns if names is None else names:
        if frame[name].dtype != object:
            continue
        texts = frame[name].map(lambda value: value.strip(" ") if isinstance(value, str) else value)
        texts = texts.where(texts.notna() & ~texts.isin(missing), None)
        numbers = pd.to_numeric(texts, errors="coerce")
        if numbers.notna().sum() == texts.notna().sum():
            numbers = numbers.astype("float64")
            frame[name] = _by_rules(numbers, spec.column(name)) if spec and name in spec.column_names else numbers
    return frame


def _by_rules(numbers: pd.Series, column: Column) -> pd.Series:
    present = numbers.notna()
    beyond = present & ~(np.isfinite(numbers) & (numbers.abs() <= FLOAT32_MAX))
    if column.dtype == "float" and column.non_finite == "missing":
        numbers, beyond = numbers.where(~beyond), beyond & False
    elif column.dtype == "int":
        beyond = present & ~((numbers % 1 == 0) & (numbers.abs() < 2.0**63))
    if beyond.any():
        expected = "a whole number (int)" if column.dtype == "int" else "a finite number"
        raise RawDataError(f"column {column.name!r}: expected {expected}, got {numbers[beyond].iloc[0]!r}")
    return numbers
