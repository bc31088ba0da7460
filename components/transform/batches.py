"""Raw rows to Arrow record batches, tf.Transform's columnar input (TFXIO).

CSV: `SplitLines` checks a line's field count and picks its split (`rows`); on the analysis's read it
passes the train rows only, on the transform's it counts every row and writes eval rows again in the
spec's column order, sensitive columns treated (`treated_rows`). `ToRecordBatch` turns a batch of
parsed rows into one record batch, every value decided by `components.data.values.parse_column`,
the rule validate reads by.
Parquet: `ReadParquet` reads a file's record batches through the one reader (`components.data.reader`,
the same type checks) and splits each batch column-wise by a hash of its rows' values.
Either way `transform_batch` makes the columns tf.Transform reads: a list per row, empty where the value
is missing, as `raw_feature_spec` declares them.
"""

from __future__ import annotations

import csv
import io
from typing import Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.tfxio.tensor_adapter import TensorAdapterConfig

from components.common.specs.base import DatasetSpec
from components.data.images import absolute_fields, absolute_references, image_positions, with_image_bytes
from components.data.raw_batch import RawBatch
from components.data.reader import read_batches
from components.data.sources import DataSource, SourceFile
from components.data.values import parse_column
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.rows import (
    COUNTER_NAMESPACE,
    RawRowError,
    SplitText,
    split_of,
    splits_of_buckets,
    to_csv_line,
    value_buckets,
)
from components.transform.treated_rows import EvalTreatment

EVAL_RAW = "eval_raw"
BATCH_ROWS = 1024
# A Parquet batch is already columnar: bigger batches spend less per row in tf.Transform's graph calls.
PARQUET_BATCH_ROWS = 8 * BATCH_ROWS
_VALUE_TYPES = {"float": pa.float32(), "int": pa.int64(), "string": pa.large_binary()}
Fractions = tuple[float, float]


def tensor_adapter_config(spec: DatasetSpec) -> TensorAdapterConfig:
    """The record batches' Arrow schema, and each column read as a VarLen sparse tensor."""
    arrow_schema = pa.schema(
        [pa.field(name, pa.large_list(_VALUE_TYPES[spec.column(name).dtype])) for name in spec.transform_input_columns]
    )
    representations = {
        name: schema_pb2.TensorRepresentation(
            varlen_sparse_tensor=schema_pb2.TensorRepresentation.VarLenSparseTensor(column_name=name)
        )
        for name in spec.transform_input_columns
    }
    return TensorAdapterConfig(arrow_schema, representations)


def transform_batch(columns: Mapping[str, pa.Array], schema: pa.Schema) -> pa.RecordBatch:
    """Spec-typed columns (null where missing) -> tf.Transform's input: per row a list, empty where missing."""
    arrays = []
    for field in schema:
        array = columns[field.name]
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        offsets = np.zeros(len(array) + 1, dtype=np.int64)
        np.cumsum(pc.is_valid(array).to_numpy(zero_copy_only=False), out=offsets[1:])
        values = pc.cast(array.drop_null(), field.type.value_type, safe=False)
        arrays.append(pa.LargeListArray.from_arrays(pa.array(offsets), values))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _Counted(beam.DoFn):
    def setup(self) -> None:
        self._counters = {
            name: beam.metrics.Metrics.counter(COUNTER_NAMESPACE, f"{name}_rows") for name in (TRAIN, VALIDATION, EVAL)
        }


class SplitLines(_Counted):
    """CSV line of one file -> its parsed fields, tagged with its split; eval lines also as raw rows in spec order.

    `all_eval`: the file is of the newest span under split=time, so every row is eval (and the analysis
    reads none of them); otherwise `fractions` (eval, validation) split by the hash of the line.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        header: Sequence[str],
        file_uri: str,
        fractions: Fractions,
        for_analysis: bool = False,
        all_eval: bool = False,
    ) -> None:
        self._for_analysis, self._all_eval = for_analysis, all_eval
        self._header_length = len(header)
        self._order = [list(header).index(name) for name in spec.column_names]
        self._treat = EvalTreatment(spec)
        self._split_text = SplitText(spec, header)
        self._fractions = fractions
        self._file_uri = file_uri
        self._images, self._missing = image_positions(spec, header), frozenset(spec.missing_values)

    def process(self, line: str) -> Iterable[beam.pvalue.TaggedOutput]:
        if not line.strip() or (self._for_analysis and self._all_eval):
            return
        fields = None
        if self._all_eval:
            split = EVAL
        else:
            text = line
            if self._split_text.may_differ(line):
                fields = self._fields(line)
                text = self._split_text.of(line, fields)
            split = split_of(text, *self._fractions)
        if self._for_analysis and split != TRAIN:
            return  # the analysis reads the train rows only; the transform's read checks and counts all
        fields = self._fields(line) if fields is None else fields
        if self._for_analysis:
            yield beam.pvalue.TaggedOutput(TRAIN, fields)
            return
        self._counters[split].inc()
        yield beam.pvalue.TaggedOutput(split, fields)
        if split == EVAL:
            yield beam.pvalue.TaggedOutput(EVAL_RAW, to_csv_line(self._treat.fields([fields[i] for i in self._order])))

    def _fields(self, line: str) -> list[str]:
        fields = next(csv.reader([line]))
        if len(fields) != self._header_length:
            raise RawRowError(
                f"{self._file_uri}: row has {len(fields)} fields, expected {self._header_length} (the header's): "
                f"{line[:200]!r}"
            )
        return absolute_fields(self._images, fields, self._file_uri, self._missing)


class ToRecordBatch(beam.DoFn):
    """A batch of parsed rows (file column order) -> one record batch of the columns the transform reads."""

    def __init__(self, spec: DatasetSpec, header: Sequence[str], file_uri: str) -> None:
        self._spec = spec
        self._columns = [(name, list(header).index(name)) for name in spec.transform_input_columns]
        self._schema = tensor_adapter_config(spec).arrow_schema
        self._file_uri = file_uri

    def process(self, rows: list[list[str]]) -> Iterable[pa.RecordBatch]:
        def where(i: int) -> str:
            return f"{self._file_uri}: row {to_csv_line(rows[i])[:200]!r}"

        columns = {
            name: parse_column(self._spec, name, [row[position] for row in rows], where)
            for name, position in self._columns
        }
        names = list(columns)
        loaded = with_image_bytes(self._spec, names, list(columns.values()), self._file_uri, where)
        yield transform_batch(dict(zip(names, loaded)), self._schema)


class ReadParquet(_Counted):
    """A Parquet file -> record batches tagged with their split; on the transform's read also the eval rows as CSV.

    Every value is read by `components.data.reader.read_batches` (the spec's types, the same checks as
    validate's). `all_eval` and `fractions` as in `SplitLines`; the hash is of the row's values.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        fractions: Fractions,
        for_analysis: bool,
        newest_span: str | None,
        endpoint_url: str = "",
    ) -> None:
        self._spec, self._fractions, self._for_analysis = spec, fractions, for_analysis
        self._newest_span, self._endpoint_url = newest_span, endpoint_url
        self._schema = tensor_adapter_config(spec).arrow_schema
        self._treat = EvalTreatment(spec)

    def process(self, file: SourceFile) -> Iterable[beam.pvalue.TaggedOutput]:
        all_eval = self._newest_span is not None and file.span == self._newest_span
        if self._for_analysis and all_eval:
            return
        source = DataSource(file.uri, "parquet", (file,), endpoint_url=self._endpoint_url)
        wanted = (TRAIN,) if self._for_analysis else (TRAIN, VALIDATION, EVAL)
        names = self._spec.column_names
        for raw in read_batches(source, self._spec, names, batch_rows=PARQUET_BATCH_ROWS, image_bytes=False):
            # Splits and eval rows by the images' references (absolute: the eval copy is elsewhere), not bytes.
            table = absolute_references(self._spec, raw.table, file.uri)
            loaded = _with_images(self._spec, raw, self._endpoint_url)
            if all_eval:
                splits = np.full(table.num_rows, EVAL)
            else:
                splits = splits_of_buckets(value_buckets(table, self._spec.column_names), *self._fractions)
            for split in wanted:
                mask = splits == split
                count = int(np.count_nonzero(mask))
                if not count:
                    continue
                picked = pa.array(mask)
                if not self._for_analysis:
                    self._counters[split].inc(count)
                yield beam.pvalue.TaggedOutput(split, transform_batch(_columns(loaded.filter(picked)), self._schema))
                if split == EVAL and not self._for_analysis:
                    yield beam.pvalue.TaggedOutput(
                        EVAL_RAW, csv_text(self._treat.batch(table.filter(picked)), self._spec)
                    )


def _with_images(spec: DatasetSpec, raw: RawBatch, endpoint_url: str) -> pa.RecordBatch:
    """The batch with its image references replaced by the images' bytes, as the one reader loads them."""

    def where(index: int) -> str:
        return f"{raw.file.uri}: row {raw.first_line + index}"

    names = raw.table.schema.names
    arrays = with_image_bytes(spec, names, raw.table.columns, raw.file.uri, where, endpoint_url)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _columns(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    return {name: batch.column(name) for name in batch.schema.names}


def csv_text(batch: pa.RecordBatch, spec: DatasetSpec) -> str:
    """Typed rows as CSV lines in the spec's column order (no header): a missing value is an empty field,
    a float its shortest text that reads back as the same double, a string quoted."""
    buffer = io.BytesIO()
    pa_csv.write_csv(batch.select(spec.column_names), buffer, pa_csv.WriteOptions(include_header=False))
    return buffer.getvalue().decode("utf-8").rstrip("\n")
