"""Parquet files for the one reader: the column types checked against the spec, values conformed.

An image column may hold references (a string column) or the encoded images themselves (a binary
column), handed on as data: URIs (components/data/images.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from components.common.specs.base import DatasetSpec
from components.data.images import embedded_references, image_features, is_binary
from components.data.raw_batch import RawBatch, refuse_missing_columns
from components.data.sources import SourceFile, local_path
from components.data.values import RawDataError, accepts, conform_column


def parquet_batches(
    file: SourceFile, spec: DatasetSpec, names: list[str], batch_rows: int, endpoint_url: str
) -> Iterator[RawBatch]:
    with local_path(file, endpoint_url) as path:
        parquet = open_parquet(file, path)
        schema = parquet.schema_arrow
        refuse_missing_columns(file, schema.names, names)
        embedded = {name for name in image_features(spec) if name in names and is_binary(schema.field(name).type)}
        for name in names:
            column, found = spec.column(name), schema.field(name).type
            if name not in embedded and not accepts(column, found):
                raise RawDataError(
                    f"{file.uri}: column {name!r} is {found} in the file; the spec reads it as {column.dtype} "
                    f"(expected {'a string' if column.dtype == 'string' else 'an integer or floating'} column)"
                )
        first = 1
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=names):

            def where(index: int, start: int = first) -> str:
                return f"{file.uri}: row {start + index}"

            arrays = [
                embedded_references(batch.column(name))
                if name in embedded
                else conform_column(spec, name, batch.column(name), where)
                for name in names
            ]
            yield RawBatch(file, first, pa.RecordBatch.from_arrays(arrays, names=names))
            first += batch.num_rows


def open_parquet(file: SourceFile, path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise RawDataError(f"{file.uri}: not readable as Parquet: {error}") from None
