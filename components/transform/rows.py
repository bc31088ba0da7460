"""Which split a raw row lands in, and what a CSV file must start with.

A CSV row's split is a hash of its line (as it always was, so a rerun on the same bytes splits alike),
with one change: a field that spells a missing value (`NA`, `null`, ...) hashes as the empty field, so a
file with `NA` splits exactly as the same file with blanks. A Parquet row has no line: its split is a
hash of its values (`value_buckets`). Under `split=time` the newest span's rows are the eval split and
the other rows are split into train and validation by the same hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from components.common.specs.base import DatasetSpec
from components.data.sources import SourceFile
from components.data.values import RawDataError, missing_values
from components.transform.layout import EVAL, TRAIN, VALIDATION

COUNTER_NAMESPACE = "transform"
HASH_SPLIT, TIME_SPLIT = "hash", "time"
SPLITS = (HASH_SPLIT, TIME_SPLIT)
BUCKETS = 10_000
# pandas' default SipHash key, named so that no pandas release can change a row's split under us.
_HASH_KEY = "0123456789123456"
_MIX = (np.uint64(0x100000001B3), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


class RawRowError(RawDataError):
    """A file or row the transform cannot read although validation passed (e.g. the file changed since)."""


def split_for(bucket: int, eval_fraction: float, validation_fraction: float = 0.0) -> str:
    """The first `eval_fraction` of buckets is eval, the next `validation_fraction` validation, the rest train."""
    if bucket < eval_fraction * BUCKETS:
        return EVAL
    if bucket < (eval_fraction + validation_fraction) * BUCKETS:
        return VALIDATION
    return TRAIN


def line_bucket(line: str) -> int:
    return int.from_bytes(hashlib.md5(line.encode("utf-8")).digest()[:8], "big") % BUCKETS


def split_of(line: str, eval_fraction: float, validation_fraction: float = 0.0) -> str:
    """Deterministic split by a hash of the row's text: the same row always lands in the same split.

    No seed and no file order is involved, so a rerun on the same bytes splits exactly alike, on any
    runner and any sharding.
    """
    return split_for(line_bucket(line), eval_fraction, validation_fraction)


class SplitText:
    """The text a CSV row's split is hashed from: its line, with missing spellings written as empty fields."""

    def __init__(self, spec: DatasetSpec, header: Sequence[str]) -> None:
        self._missing = missing_values(spec)
        self._spellings = tuple(sorted(self._missing - {""}))
        numeric = {c.name for c in spec.columns if c.dtype != "string"}
        self._numeric = [name in numeric for name in header]

    def may_differ(self, line: str) -> bool:
        """False when the line holds no missing spelling, so its text is hashed as it is (the common case)."""
        return any(spelling in line for spelling in self._spellings)

    def of(self, line: str, fields: Sequence[str]) -> str:
        blanked = [
            "" if field in self._missing or (numeric and field.strip() in self._missing) else field
            for field, numeric in zip(fields, self._numeric)
        ]
        return line if blanked == list(fields) else to_csv_line(blanked)


def value_buckets(table: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> np.ndarray:
    """Each row's hash bucket from its values in `columns` (the spec's order, whatever the file's).

    A column's values are hashed column-wise by pandas' `hash_array` (SipHash-2-4 under a fixed key
    for strings, a fixed 64-bit mix for numbers: the same on every run, process and runner). Numbers
    hash as float64 (an int 3 as 3.0, -0.0 as 0.0, a missing value as NaN); a missing string as null.
    The columns are combined in order and the result mixed once more (splitmix64's finalizer).
    """
    combined = np.full(table.num_rows, 0xCBF29CE484222325, dtype=np.uint64)
    for name in columns:
        column = table.column(name)
        if pa.types.is_large_string(column.type) or pa.types.is_string(column.type):
            values = column.to_numpy(zero_copy_only=False)
        else:
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False) + 0.0
        hashed = pd.util.hash_array(values, hash_key=_HASH_KEY, categorize=False)
        combined = (combined ^ hashed) * _MIX[0]
    combined ^= combined >> np.uint64(30)
    combined *= _MIX[1]
    combined ^= combined >> np.uint64(27)
    combined *= _MIX[2]
    combined ^= combined >> np.uint64(31)
    return (combined % np.uint64(BUCKETS)).astype(np.int64)


def splits_of_buckets(buckets: np.ndarray, eval_fraction: float, validation_fraction: float) -> np.ndarray:
    """`split_for` over an array of buckets: an array of split names."""
    return np.where(
        buckets < eval_fraction * BUCKETS,
        EVAL,
        np.where(buckets < (eval_fraction + validation_fraction) * BUCKETS, VALIDATION, TRAIN),
    )


def read_header(uri: str) -> list[str]:
    """Column names from a CSV file's first line (gzip read as gzip); a UTF-8 byte-order mark is dropped,
    as validate drops it."""
    with FileSystems.open(uri) as handle:
        first_line = handle.readline().decode("utf-8-sig")
    return next(csv.reader([first_line]), [])


def common_header(files: Sequence[SourceFile], spec: DatasetSpec) -> list[str]:
    """The header every file shares; RawRowError naming the file whose header differs or lacks a column."""
    header = read_header(files[0].uri)
    missing = [name for name in spec.column_names if name not in header]
    if missing:
        raise RawRowError(f"{files[0].uri}: missing column(s) {missing}; header is {header}")
    for file in files[1:]:
        other = read_header(file.uri)
        if other != header:
            raise RawRowError(
                f"{file.uri}: header {other} differs from {files[0].uri}'s {header}; expected one header for every file"
            )
    return header


def to_csv_line(fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()
