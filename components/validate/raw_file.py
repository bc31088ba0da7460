"""Checks on the raw file's bytes, before any CSV parser sees them, and its content digest.

Validate and transform must read the same rows from the same bytes. pandas (validate) and Beam's
`ReadFromText` (transform, one row per line) disagree on some files, so those are refused here,
naming the line: a quoted field that holds a line break, a header that names a column twice.
A UTF-8 byte-order mark is accepted: both steps strip it from the header.
The digest recorded here is what transform checks before and after it reads the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

from components.common.content import ContentDigest
from components.common.specs.base import DatasetSpec

BYTE_ORDER_MARK = "\ufeff"


class DataValidationError(ValueError):
    """The raw data cannot be used: unreadable, or a critical expectation failed.

    `summary` is the validation summary (components.validate.report) when one was written.
    """

    def __init__(self, message: str, summary: object | None = None) -> None:
        super().__init__(message)
        self.summary = summary


def content_digest(path: Path) -> ContentDigest:
    with path.open("rb") as handle:
        return ContentDigest.of_stream(handle)


def check_bytes(path: Path, spec: DatasetSpec) -> None:
    """Not empty, UTF-8 throughout, one row per line with the header's number of fields; streams the file."""
    _check_utf8(path, spec)
    _check_rows(path)


def _check_utf8(path: Path, spec: DatasetSpec) -> None:
    offset, blank = 0, True
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as error:
                # A multi-byte character never contains a newline byte, so line by line finds the same errors.
                raise DataValidationError(
                    f"{path}: line {number}, byte offset {offset + error.start}: not valid UTF-8 ({error.reason})"
                ) from None
            # Not "utf-8-sig" on the bytes: its error offsets would not count the byte-order mark.
            blank = blank and not (text.removeprefix(BYTE_ORDER_MARK) if number == 1 else text).strip()
            offset += len(line)
    if blank:
        raise DataValidationError(f"{path}: the file is empty; expected a header line: {','.join(spec.column_names)}")


def _check_rows(path: Path) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(row for row in reader if row)
            _check_header(path, header, reader.line_num)
            last_line = reader.line_num
            for row in reader:
                if reader.line_num > last_line + 1 and any("\n" in field or "\r" in field for field in row):
                    raise DataValidationError(
                        f"{path}: line {last_line + 1}: a quoted field holds a line break; the transform reads "
                        "one row per line, so each row must fit on one line"
                    )
                last_line = reader.line_num
                if row and len(row) != len(header):
                    raise DataValidationError(
                        f"{path}: line {reader.line_num}: found {len(row)} fields, expected "
                        f"{len(header)} as in the header (truncated or malformed row)"
                    )
        except csv.Error as error:
            raise DataValidationError(f"{path}: line {reader.line_num}: {error}") from None


def _check_header(path: Path, header: list[str], line: int) -> None:
    """Every column named once: with two `fare` columns, which one a step reads is undefined."""
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(position)
    repeated = {name: where for name, where in positions.items() if len(where) > 1}
    if repeated:
        named = "; ".join(f"{name!r} at fields {', '.join(map(str, where))}" for name, where in repeated.items())
        raise DataValidationError(f"{path}: line {line}: the header names a column more than once: {named}")
