"""The one reader of raw data: a DataSource's rows as spec-typed Arrow batches, whatever the format.

CSV (optionally gzip): UTF-8, the header checked against the spec per file, one row per line: rows split
only on `\\n` or `\\r\\n` (a U+2028, NEL or form feed inside a quoted field stays in the field), a quoted line
break refused (a row must fit on one line), a line over the spec's `max_line_bytes` refused after reading
at most that many bytes of it. pyarrow reads the rows where they are the csv module's (arrow_csv.py), the
csv module from the first batch it cannot vouch for. Parquet: the column types checked against the spec.
Values then follow components/data/values.py, so every step reads the same value from the same text.
"""

from __future__ import annotations

import csv
import gzip
from contextlib import ExitStack
from typing import IO, Callable, Generator, Iterator, Sequence

import pandas as pd
import pyarrow as pa

from components.common.specs.base import DatasetSpec
from components.data.arrow_csv import CheckedStream, Unsure, arrow_tables
from components.data.images import image_features, with_image_bytes
from components.data.parquet_batches import open_parquet, parquet_batches
from components.data.raw_batch import RawBatch, refuse_missing_columns
from components.data.sources import DataSource, SourceFile, local_path, open_bytes
from components.data.values import ARROW_TYPES, RawDataError, parse_column

BYTE_ORDER_MARK = "\ufeff"
DEFAULT_BATCH_ROWS = 65_536


def read_batches(
    source: DataSource,
    spec: DatasetSpec,
    columns: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    image_bytes: bool = True,
) -> Iterator[RawBatch]:
    """Every file's rows in order, `batch_rows` at a time, spec-typed; RawDataError names file, line, column.

    An image column holds the images' bytes (components/data/images.py), or with `image_bytes=False` the
    references as written (validation checks them one by one).
    """
    names = list(columns) if columns is not None else spec.column_names
    unknown = [name for name in names if name not in spec.column_names]
    if unknown:
        raise ValueError(f"columns {unknown} are not in spec {spec.name}: {spec.column_names}")
    load = image_bytes and any(name in image_features(spec) for name in names)
    for file in source.files:
        if source.format == "parquet":
            batches = parquet_batches(file, spec, names, batch_rows, source.endpoint_url)
        else:
            batches = _csv_batches(file, spec, names, batch_rows, source.endpoint_url)
        for batch in batches:
            yield _with_images(batch, spec, source.endpoint_url) if load else batch


def _with_images(batch: RawBatch, spec: DatasetSpec, endpoint_url: str) -> RawBatch:
    kind = "row" if batch.file.uri.lower().endswith(".parquet") else "line"

    def where(index: int) -> str:
        return f"{batch.file.uri}: {kind} {batch.first_line + index}"

    names = batch.table.schema.names
    arrays = with_image_bytes(spec, names, batch.table.columns, batch.file.uri, where, endpoint_url)
    return RawBatch(batch.file, batch.first_line, pa.RecordBatch.from_arrays(arrays, names=names))


def read_frame(source: DataSource, spec: DatasetSpec, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """All rows as one pandas frame: int -> Int64 (nullable), float -> float64, string -> object (None if missing)."""
    names = list(columns) if columns is not None else spec.column_names
    frames = [to_frame(batch) for batch in read_batches(source, spec, names)]
    return pd.concat(frames, ignore_index=True) if frames else empty_frame(spec, names)


def to_frame(batch: RawBatch) -> pd.DataFrame:
    """One batch as pandas, typed as `read_frame` types it."""
    return _pandas(batch.table)


def empty_frame(spec: DatasetSpec, columns: Sequence[str]) -> pd.DataFrame:
    """No rows, the columns typed as `read_frame` types them."""
    schema = pa.schema([(name, ARROW_TYPES[spec.column(name).dtype]) for name in columns])
    return _pandas(pa.RecordBatch.from_pylist([], schema=schema))


def _pandas(table: pa.RecordBatch) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name, kind in zip(table.schema.names, table.schema.types):
        if pa.types.is_large_string(kind):
            # pandas 3 would make these `str` with NaN; every step's frames hold Python strings and None.
            frame[name] = pd.Series(table.column(name).to_pylist(), index=frame.index, dtype=object)
    return frame


def file_columns(file: SourceFile, spec: DatasetSpec, endpoint_url: str = "") -> list[str]:
    """The columns a file holds: a CSV's header (checked as `read_batches` checks it) or a Parquet schema's names."""
    if file.uri.lower().endswith(".parquet"):
        with local_path(file, endpoint_url) as path:
            return list(open_parquet(file, path).schema_arrow.names)
    return next(_csv_rows(file, spec.max_line_bytes, ",".join(spec.column_names), 1, endpoint_url))[0]


def read_text_frames(
    source: DataSource, missing: frozenset[str], max_line_bytes: int, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pd.DataFrame]:
    """Every column as found, for a reader without a spec (the drift check against a spec-less baseline).

    The rows are split as `read_batches` splits them; a CSV value is text, None when it is a missing
    spelling; a Parquet column keeps its type (a string one: None for a missing spelling).
    """
    for file in source.files:
        if source.format == "parquet":
            with local_path(file, source.endpoint_url) as path:
                for batch in open_parquet(file, path).iter_batches(batch_size=batch_rows):
                    frame = batch.to_pandas()
                    for name in frame.columns:
                        if frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name].dtype):
                            texts = frame[name].astype(object)
                            frame[name] = texts.where(texts.notna() & ~texts.isin(missing), None)
                    yield frame
            continue
        for header, rows, _ in _csv_rows(file, max_line_bytes, "", batch_rows, source.endpoint_url):
            if rows:
                frame = pd.DataFrame(rows, columns=header, dtype=object)
                yield frame.where(~frame.isin(missing), None)


class _Lines:
    """A byte stream's lines as text, split on `\\n` only, each at most `limit` bytes (without its `\\n`)."""

    def __init__(self, stream: IO[bytes], uri: str, limit: int) -> None:
        self.stream, self.uri, self.limit = stream, uri, limit
        self.number, self.offset = 0, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.stream.readline(self.limit + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) > self.limit and not line.endswith(b"\n"):
            raise RawDataError(
                f"{self.uri}: line {self.number}: longer than {self.limit} bytes (the spec's max_line_bytes); "
                "refused before reading it whole"
            )
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RawDataError(
                f"{self.uri}: line {self.number}, byte offset {self.offset + error.start}: "
                f"not valid UTF-8 ({error.reason})"
            ) from None
        self.offset += len(line)
        return text.removeprefix(BYTE_ORDER_MARK) if self.number == 1 else text


def _text_stream(stack: ExitStack, file: SourceFile, endpoint_url: str) -> IO[bytes]:
    raw = stack.enter_context(open_bytes(file, endpoint_url))
    return stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")) if file.gzipped else raw


def _header(reader: Iterator[list[str]], file: SourceFile, expected: str) -> list[str]:
    """The first non-blank row; every column named once (with two `fare` columns, which one is read is undefined)."""
    header = next((row for row in reader if "".join(row).strip()), None)
    if header is None:
        raise RawDataError(
            f"{file.uri}: the file is empty; expected a header line" + (f": {expected}" if expected else "")
        )
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(position)
    repeated = {name: where for name, where in positions.items() if len(where) > 1}
    if repeated:
        named = "; ".join(f"{name!r} at fields {', '.join(map(str, where))}" for name, where in repeated.items())
        line = getattr(reader, "line_num", 1)
        raise RawDataError(f"{file.uri}: line {line}: the header names a column more than once: {named}")
    return header


def _csv_batches(
    file: SourceFile, spec: DatasetSpec, names: list[str], batch_rows: int, endpoint_url: str
) -> Iterator[RawBatch]:
    """pyarrow's batches while they are the csv module's; from the first it cannot vouch for, the csv module's."""
    done = yield from _arrow_batches(file, spec, names, batch_rows, endpoint_url)
    if done is not None:
        yield from _module_batches(file, spec, names, batch_rows, endpoint_url, done)


def _module_batches(
    file: SourceFile, spec: DatasetSpec, names: list[str], batch_rows: int, endpoint_url: str, skip: int = 0
) -> Iterator[RawBatch]:
    """The file's batches as the csv module reads them, but for the first `skip`."""
    expected = ",".join(spec.column_names)
    positions: list[int] = []
    rows_read = _csv_rows(file, spec.max_line_bytes, expected, batch_rows, endpoint_url)
    for index, (header, rows, numbers) in enumerate(rows_read):
        if not positions:
            refuse_missing_columns(file, header, names)
            positions = [header.index(name) for name in names]
        if rows and index > skip:  # the first item is the header's
            fields = list(zip(*rows))  # one tuple of texts per column of the file, transposed in C
            yield _typed_batch(file, spec, names, [fields[at] for at in positions], numbers.__getitem__)


def _arrow_batches(
    file: SourceFile, spec: DatasetSpec, names: list[str], batch_rows: int, endpoint_url: str
) -> Generator[RawBatch, None, int | None]:
    """The file's batches read by pyarrow; None when all were, else how many were before it became Unsure.

    The header is read as the csv module path reads it (any trouble there: 0, and that path says why).
    """
    with ExitStack() as stack:
        try:
            stream = _text_stream(stack, file, endpoint_url)
            reader = csv.reader(_Lines(stream, file.uri, spec.max_line_bytes), strict=True)
            header = _header(reader, file, ",".join(spec.column_names))
        except (RawDataError, csv.Error, OSError, EOFError):
            return 0
        if any(name not in header for name in names):
            return 0
        checked = CheckedStream(stream, spec.max_line_bytes)
        stack.callback(checked.stop)
        first, done = reader.line_num + 1, 0
        try:
            for table in arrow_tables(checked, header, names, batch_rows):
                texts = [table.column(name).combine_chunks() for name in names]
                # With no blank line and no quoted line break, row i is line `first + i`.
                yield _typed_batch(file, spec, names, texts, lambda i, at=first + done * batch_rows: at + i)
                done += 1
        except Unsure:
            return done
    return None


def _csv_rows(
    file: SourceFile, max_line_bytes: int, expected: str, batch_rows: int, endpoint_url: str
) -> Iterator[tuple[list[str], list[list[str]], list[int]]]:
    """(header, rows, their line numbers), at most `batch_rows` rows at a time; the first has none."""
    with ExitStack() as stack:
        lines = _Lines(_text_stream(stack, file, endpoint_url), file.uri, max_line_bytes)
        reader = csv.reader(lines, strict=True)
        try:
            header = _header(reader, file, expected)
            yield header, [], []
            rows: list[list[str]] = []
            numbers: list[int] = []
            last = reader.line_num
            for row in reader:
                if reader.line_num > last + 1:
                    raise RawDataError(
                        f"{file.uri}: line {last + 1}: a quoted field holds a line break; every step reads "
                        "one row per line, so each row must fit on one line"
                    )
                last = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise RawDataError(
                        f"{file.uri}: line {last}: found {len(row)} fields, expected {len(header)} as in the "
                        "header (truncated or malformed row)"
                    )
                rows.append(row)
                numbers.append(last)
                if len(rows) == batch_rows:
                    yield header, rows, numbers
                    rows, numbers = [], []
            if rows:
                yield header, rows, numbers
        except csv.Error as error:
            raise RawDataError(f"{file.uri}: line {reader.line_num}: {error}") from None
        except (OSError, EOFError) as error:  # gzip: not a gzip file, or cut short
            raise RawDataError(f"{file.uri}: not readable: {error}") from None


def _typed_batch(
    file: SourceFile, spec: DatasetSpec, names: list[str], texts: list, line: Callable[[int], int]
) -> RawBatch:
    """Each named column's texts (a sequence or an Arrow array) spec-typed; row i is on CSV line `line(i)`."""

    def where(index: int) -> str:
        return f"{file.uri}: line {line(index)}"

    arrays = [parse_column(spec, name, column, where) for name, column in zip(names, texts)]
    return RawBatch(file, line(0), pa.RecordBatch.from_arrays(arrays, names=names))
