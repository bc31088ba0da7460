"""Raw CSV lines to Arrow record batches, tf.Transform's columnar input (TFXIO).

`SplitLines` checks a line's field count and picks its split by the hash of its text; on the
analysis's read it passes the train rows only, on the transform's it counts every row and writes
eval rows again in the spec's column order; `ToRecordBatch`
turns a batch of parsed rows into one record batch of the columns the transform reads, each a list
column with no value where the field is empty, as `raw_feature_spec` declares them.
"""

from __future__ import annotations

import csv
from typing import Iterable, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.tfxio.tensor_adapter import TensorAdapterConfig

from components.common.specs.base import DatasetSpec
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.rows import COUNTER_NAMESPACE, RawRowError, split_of, to_csv_line

EVAL_RAW = "eval_raw"
BATCH_ROWS = 1024
_EXPECTED = {"float": "a number", "int": "an integer"}
_VALUE_TYPES = {"float": pa.float32(), "int": pa.int64(), "string": pa.large_binary()}


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


class SplitLines(beam.DoFn):
    """CSV line -> its parsed fields, tagged with its split; eval lines also as raw rows in spec order."""

    def __init__(self, spec: DatasetSpec, header: Sequence[str], data_uri: str, for_analysis: bool = False) -> None:
        self._for_analysis = for_analysis
        self._header_length = len(header)
        self._order = [list(header).index(name) for name in spec.column_names]
        self._fractions = (spec.eval_fraction, spec.validation_fraction)
        self._data_uri = data_uri
        self._counters: dict = {}

    def setup(self) -> None:
        self._counters = {
            name: beam.metrics.Metrics.counter(COUNTER_NAMESPACE, f"{name}_rows") for name in (TRAIN, VALIDATION, EVAL)
        }

    def process(self, line: str) -> Iterable[beam.pvalue.TaggedOutput]:
        if not line.strip():
            return
        split = split_of(line, *self._fractions)
        if self._for_analysis and split != TRAIN:
            return  # the analysis reads the train rows only; the transform's read checks and counts all
        fields = next(csv.reader([line]))
        if len(fields) != self._header_length:
            raise RawRowError(
                f"{self._data_uri}: row has {len(fields)} fields, expected {self._header_length} (the header's): "
                f"{line[:200]!r}"
            )
        if self._for_analysis:
            yield beam.pvalue.TaggedOutput(TRAIN, fields)
            return
        self._counters[split].inc()
        yield beam.pvalue.TaggedOutput(split, fields)
        if split == EVAL:
            yield beam.pvalue.TaggedOutput(EVAL_RAW, to_csv_line([fields[i] for i in self._order]))


class ToRecordBatch(beam.DoFn):
    """A batch of parsed rows (file column order) -> one record batch of the columns the transform reads."""

    def __init__(self, spec: DatasetSpec, header: Sequence[str], data_uri: str) -> None:
        self._columns = [
            (name, list(header).index(name), spec.column(name).dtype) for name in spec.transform_input_columns
        ]
        self._schema = tensor_adapter_config(spec).arrow_schema
        self._data_uri = data_uri

    def process(self, rows: list[list[str]]) -> Iterable[pa.RecordBatch]:
        arrays = []
        for name, position, dtype in self._columns:
            texts = [row[position] for row in rows]
            present = [text for text in texts if text != ""]
            offsets = np.zeros(len(texts) + 1, dtype=np.int64)
            np.cumsum([text != "" for text in texts], out=offsets[1:])
            values = self._values(name, dtype, present)
            arrays.append(pa.LargeListArray.from_arrays(pa.array(offsets), values))
        yield pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def _values(self, name: str, dtype: str, texts: list[str]) -> pa.Array:
        if dtype == "string":
            return pa.array(texts, type=pa.large_binary())
        try:
            if dtype == "float":
                return pa.array(np.array([float(text) for text in texts], dtype=np.float32))
            return pa.array(np.array([_integer(text) for text in texts], dtype=np.int64), type=pa.int64())
        except (ValueError, OverflowError):
            bad = next(text for text in texts if not _parses(dtype, text))
            raise RawRowError(f"{self._data_uri}: column {name!r}: expected {_EXPECTED[dtype]}, got {bad!r}") from None


def _integer(text: str) -> int:
    """An int column's field; "3.0" reads as 3, as validation and the serving signature accept it."""
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def _parses(dtype: str, text: str) -> bool:
    try:
        float(text) if dtype == "float" else _integer(text)
    except (ValueError, OverflowError):
        return False
    return True
