"""What the one reader yields (a file's rows, spec-typed), and the checks every format shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa

from components.data.sources import SourceFile
from components.data.values import RawDataError


@dataclass
class RawBatch:
    """Rows of one file; `first_line` is the CSV line (Parquet: the row, from 1) of the first of them."""

    file: SourceFile
    first_line: int
    table: pa.RecordBatch


def refuse_missing_columns(file: SourceFile, held: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [name for name in wanted if name not in held]
    if missing:
        raise RawDataError(f"{file.uri}: no column(s) {missing}; the file has {list(held)}")
