"""A CSV file's rows read by pyarrow, only where they are the rows the csv module reads (the reader's fast path).

pyarrow's CSV parser is far faster than the csv module but not the same: it splits rows on a lone `\\r`,
reads a quoted line break or `"a"b` where the csv module (strict) refuses them, bounds lines only by its
block. `CheckedStream` passes the bytes after the header to pyarrow and checks every line on the way; a
line that could read differently, or any pyarrow error, raises `Unsure` and the caller reads the file
with the csv module instead, so rows, values and errors are the csv module's whatever the input.
"""

from __future__ import annotations

import re
import threading
from typing import IO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

# A line with a quote as the csv module (excel dialect, strict) and pyarrow both read it: fields quoted
# whole (`""` inside) or not starting with a quote. Possessive, as the csv module never backtracks.
_FIELD = rb'(?>"(?:[^"\r\n]|"")*+"|[^",\r\n][^,\r\n]*+|)'
_QUOTED_LINE = re.compile(_FIELD + rb"(?:," + _FIELD + rb")*+\r?\n")
_NEWLINE = ord("\n")


class Unsure(Exception):
    """pyarrow's rows may not be the csv module's (or pyarrow refused the file): read it with the csv module."""


class CheckedStream:
    """A byte stream that pyarrow reads, checked line by line; once a line fails, it reads as ended.

    A line passes when it is valid UTF-8, at most `limit` bytes (without its `\\n`), not blank, holds no
    `\\r` but before its `\\n` and, if it holds a quote, splits into fields as `_QUOTED_LINE` says.
    """

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream, self.limit = stream, limit
        self.clean = True
        self._tail = b""  # the line begun but not ended in what was read
        self._lock = threading.Lock()  # pyarrow reads from its own thread; `stop` waits for a read under way

    @property
    def closed(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            if not self.clean:
                return b""
            try:
                data = self.stream.read(size)
            except (OSError, EOFError):  # gzip: not a gzip file, or cut short; the csv module says so
                self.clean = False
                return b""
            self.clean = self._passes(data)
            return data if self.clean else b""

    def stop(self) -> None:
        """Read nothing more from the stream (before it is closed)."""
        with self._lock:
            self.clean = False

    def _passes(self, data: bytes) -> bool:
        if data:
            region = self._tail + data
            cut = region.rfind(b"\n") + 1
            lines, self._tail = region[:cut], region[cut:]
        else:  # the end: a last line without its `\n`
            lines, self._tail = (self._tail + b"\n" if self._tail else b""), b""
        if len(self._tail) > self.limit:
            return False
        if not lines:
            return True
        try:
            lines.decode("utf-8")
        except UnicodeDecodeError:
            return False
        lengths = np.diff(np.flatnonzero(np.frombuffer(lines, np.uint8) == _NEWLINE), prepend=-1)
        if int(lengths.max()) > self.limit + 1 or int(lengths.min()) == 1:
            return False  # too long; or blank: no row for the csv module, for pyarrow a row of empty values
        if b"\r" in lines:  # splits a row for pyarrow, not for the csv module
            if lines.count(b"\r") != lines.count(b"\r\n") or lines.startswith(b"\r\n") or b"\n\r\n" in lines:
                return False
        return b'"' not in lines or _quotes_pass(lines)


def _quotes_pass(lines: bytes) -> bool:
    """Whether every line holding a quote is a `_QUOTED_LINE`; the others are not looked at."""
    at = lines.find(b'"')
    while at >= 0:
        start, end = lines.rfind(b"\n", 0, at) + 1, lines.find(b"\n", at) + 1
        if not _QUOTED_LINE.fullmatch(lines, start, end):
            return False
        at = lines.find(b'"', end)
    return True


def arrow_tables(checked: CheckedStream, header: list[str], names: list[str], batch_rows: int) -> Iterator[pa.Table]:
    """The rows after the header, `batch_rows` at a time (the last: the rest), the `names` columns as text.

    Raises Unsure when pyarrow fails or a line read does not pass; nothing is yielded past such a line.
    """
    wanted = list(dict.fromkeys(names))
    options = (
        # A block of max_line_bytes + 1 holds any line the csv module reads; pyarrow fails on one far longer.
        pacsv.ReadOptions(column_names=header, block_size=checked.limit + 1),
        pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        pacsv.ConvertOptions(
            column_types={name: pa.large_string() for name in wanted},
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
        ),
    )
    pending: list[pa.RecordBatch] = []
    held = 0
    try:
        with pacsv.open_csv(pa.PythonFile(checked, mode="r"), *options) as reader:
            for batch in reader:
                if not checked.clean:
                    raise Unsure()
                pending.append(batch)
                held += batch.num_rows
                while held >= batch_rows:
                    table = pa.Table.from_batches(pending)
                    yield table.slice(0, batch_rows)
                    pending, held = table.slice(batch_rows).to_batches(), held - batch_rows
    except pa.ArrowException:
        raise Unsure() from None
    if not checked.clean:
        raise Unsure()
    if held:
        yield pa.Table.from_batches(pending)
