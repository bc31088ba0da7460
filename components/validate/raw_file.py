"""The validate step's error, and reading every row without Great Expectations.

The checks on the raw bytes (UTF-8, one row per line, the header, a line's length) and on each value
are the one reader's (components/data/reader.py), so that validate refuses exactly what no later step
can read, naming the file, line and column.
"""

from __future__ import annotations

from pathlib import Path

from components.common.specs.base import DatasetSpec
from components.data.reader import read_batches
from components.data.sources import resolve_source
from components.data.values import RawDataError


class DataValidationError(ValueError):
    """The raw data cannot be used: unreadable, or a critical expectation failed.

    `summary` is the validation summary (components.validate.report) when one was written.
    """

    def __init__(self, message: str, summary: object | None = None) -> None:
        super().__init__(message)
        self.summary = summary


def check_bytes(path: Path | str, spec: DatasetSpec) -> None:
    """Every row of the data read by the spec's rules, streamed; DataValidationError naming file, line and column."""
    try:
        for _ in read_batches(resolve_source(str(path)), spec):
            pass
    except RawDataError as error:
        raise DataValidationError(str(error)) from None
