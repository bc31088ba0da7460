"""The eval split's raw rows, as transform wrote them, read back by the one reader of raw data."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from components.common.content import ContentDigest
from components.common.specs.base import DatasetSpec
from components.data.reader import file_columns, read_batches
from components.data.sources import DataSource, SourceFile


def read_eval_columns(path: Path, spec: DatasetSpec) -> dict[str, tf.Tensor]:
    """The eval rows transform wrote (a CSV, the spec's columns in order), read by the one reader of raw data.

    Dense tensors as the serving model and the label take them: numbers float64 with NaN where missing,
    strings with "" where missing. A quoted field may hold any character but a line break (a U+2028 too).
    """
    with open(path, "rb") as handle:
        digest = ContentDigest.of_stream(handle)
    file = SourceFile(str(path), digest.size, digest.sha256)
    columns = file_columns(file, spec)
    if columns != spec.column_names:
        raise ValueError(f"{path}: header {columns} is not the {spec.name} columns {spec.column_names}")
    batches = [batch.table for batch in read_batches(DataSource(str(path), "csv", (file,)), spec)]
    if not batches or not sum(batch.num_rows for batch in batches):
        raise ValueError(f"{path}: no eval rows")
    table = pa.Table.from_batches(batches)
    return {
        column.name: tf.constant(
            pc.fill_null(table.column(column.name), "").to_numpy(zero_copy_only=False)
            if column.dtype == "string"
            else pc.cast(table.column(column.name), pa.float64()).to_numpy(zero_copy_only=False)
        )
        for column in spec.columns
    }
