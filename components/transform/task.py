"""Run tf.Transform on Beam: deterministic train/eval split, analysis on train, transformed TFRecords.

The runner and its options are parameters: DirectRunner on one machine, or
DataflowRunner / FlinkRunner / SparkRunner with their usual options on a cluster.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import apache_beam as beam
import mlflow
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_transform.coders import ExampleProtoCoder
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.common import tracking
from components.common.raw_tensors import raw_feature_spec
from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.transform.features import make_preprocessing_fn
from components.transform.layout import EVAL, TRAIN, TRANSFORMED_FILE_SUFFIX

COUNTER_NAMESPACE = "transform"


@dataclass(frozen=True)
class TransformResult:
    train_rows: int
    eval_rows: int
    runner: str


class RawRowError(ValueError):
    """A row the transform cannot read although validation passed (e.g. the file changed since)."""


def split_of(line: str, eval_fraction: float) -> str:
    """Deterministic split by a hash of the row's text: the same row always lands in the same split."""
    bucket = int.from_bytes(hashlib.md5(line.encode("utf-8")).digest()[:8], "big") % 10_000
    return EVAL if bucket < eval_fraction * 10_000 else TRAIN


def read_header(data_uri: str) -> list[str]:
    """Column names from the first line of the (first) input file."""
    first_file = sorted(beam.io.filesystems.FileSystems.match([data_uri])[0].metadata_list, key=lambda m: m.path)[0]
    with beam.io.filesystems.FileSystems.open(first_file.path) as handle:
        first_line = handle.readline().decode("utf-8")
    return next(csv.reader([first_line]))


class ParseRows(beam.DoFn):
    """CSV line → (split, instance dict for tf.Transform, raw row in the spec's column order)."""

    def __init__(self, spec: DatasetSpec, header: Sequence[str]) -> None:
        self._spec = spec
        self._header = list(header)
        self._positions = {name: self._header.index(name) for name in spec.column_names}

    def process(self, line: str) -> Iterable[tuple[str, dict, str]]:
        if not line.strip():
            return
        fields = next(csv.reader([line]))
        if len(fields) != len(self._header):
            raise RawRowError(f"row has {len(fields)} fields, expected {len(self._header)}: {line[:200]!r}")
        ordered = [fields[self._positions[name]] for name in self._spec.column_names]
        instance = {
            name: _typed_values(name, self._spec.column(name).dtype, fields[self._positions[name]])
            for name in self._spec.transform_input_columns
        }
        split = split_of(line, self._spec.eval_fraction)
        beam.metrics.Metrics.counter(COUNTER_NAMESPACE, f"{split}_rows").inc()
        yield split, instance, _to_csv_line(ordered)


def _typed_values(column: str, dtype: str, text: str) -> list:
    if text == "":
        return []
    try:
        if dtype == "float":
            return [float(text)]
        if dtype == "int":
            return [int(float(text))]
    except ValueError as error:
        raise RawRowError(f"column {column!r}: expected a {dtype}, got {text!r}") from error
    return [text]


def _to_csv_line(fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def run_transform(
    data_uri: str,
    spec: DatasetSpec,
    transform_graph_dir: Path,
    examples_dir: Path,
    eval_data_file: Path,
    beam_runner: str = "DirectRunner",
    beam_options: Sequence[str] = (),
) -> TransformResult:
    """Analyze on the train split, transform both splits, write everything the trainer needs.

    Writes the transform graph to `transform_graph_dir`, gzipped tf.Example files
    `train-*` and `eval-*` to `examples_dir`, and the eval split's raw rows (with
    a header, in the spec's column order) to `eval_data_file` for evaluation.
    """
    options = PipelineOptions(list(beam_options), runner=beam_runner)
    # Reading the header happens outside the pipeline: give the file systems (S3, GCS) their options too.
    beam.io.filesystems.FileSystems.set_options(options)
    header = read_header(data_uri)
    missing = [name for name in spec.column_names if name not in header]
    if missing:
        raise RawRowError(f"{data_uri}: missing column(s) {missing}; header is {header}")
    examples_dir.mkdir(parents=True, exist_ok=True)
    eval_data_file.parent.mkdir(parents=True, exist_ok=True)
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_feature_spec(spec)))

    with tempfile.TemporaryDirectory(prefix="tft-") as temp_dir:
        pipeline = beam.Pipeline(options=options)
        with tft_beam.Context(temp_dir=temp_dir):
            rows = (
                pipeline
                | "Read" >> beam.io.ReadFromText(data_uri, skip_header_lines=1)
                | "Parse" >> beam.ParDo(ParseRows(spec, header))
            )
            train_rows = rows | "TrainRows" >> beam.Filter(lambda row: row[0] == TRAIN)
            eval_rows = rows | "EvalRows" >> beam.Filter(lambda row: row[0] == EVAL)
            train_instances = train_rows | "TrainInstances" >> beam.Map(lambda row: row[1])
            eval_instances = eval_rows | "EvalInstances" >> beam.Map(lambda row: row[1])

            (transformed_train, transformed_metadata), transform_fn = (
                train_instances,
                metadata,
            ) | "AnalyzeAndTransform" >> tft_beam.AnalyzeAndTransformDataset(make_preprocessing_fn(spec))
            transformed_eval, _ = (
                (eval_instances, metadata),
                transform_fn,
            ) | "TransformEval" >> tft_beam.TransformDataset()

            coder = ExampleProtoCoder(transformed_metadata.schema)
            for name, transformed in ((TRAIN, transformed_train), (EVAL, transformed_eval)):
                _ = (
                    transformed
                    | f"Encode{name}" >> beam.Map(coder.encode)
                    | f"Write{name}"
                    >> beam.io.WriteToTFRecord(str(examples_dir / name), file_name_suffix=TRANSFORMED_FILE_SUFFIX)
                )
            _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(str(transform_graph_dir))
            _ = (
                eval_rows
                | "EvalRawLines" >> beam.Map(lambda row: row[2])
                | "WriteEvalRaw"
                >> beam.io.WriteToText(
                    str(eval_data_file),
                    header=_to_csv_line(spec.column_names),
                    shard_name_template="",
                    num_shards=1,
                )
            )
        result = pipeline.run()
        result.wait_until_finish()

    counters = {
        counter.key.metric.name: counter.committed
        for counter in result.metrics().query(beam.metrics.MetricsFilter().with_namespace(COUNTER_NAMESPACE))[
            "counters"
        ]
    }
    return TransformResult(
        train_rows=int(counters.get(f"{TRAIN}_rows", 0)),
        eval_rows=int(counters.get(f"{EVAL}_rows", 0)),
        runner=beam_runner,
    )


def beam_flags(beam_options_json: str, s3_endpoint_url: str = "") -> list[str]:
    """Beam flags from the step's JSON list; a custom S3 endpoint (MinIO) becomes `--s3_endpoint_url`.

    Flags the user gave win; S3 credentials come from the environment as boto3 reads them.
    """
    flags = json.loads(beam_options_json or "[]")
    if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
        raise ValueError(f"beam_options must be a JSON list of strings, got {beam_options_json!r}")
    if s3_endpoint_url and not any(flag.startswith("--s3_endpoint_url") for flag in flags):
        flags.append(f"--s3_endpoint_url={s3_endpoint_url}")
    return flags


def run_transform_step(
    data_uri: str,
    dataset: str,
    tracking_uri: str,
    pipeline_run_id: str,
    beam_runner: str,
    beam_options_json: str,
    transform_graph_dir: Path,
    examples_dir: Path,
    eval_data_file: Path,
    s3_endpoint_url: str = "",
) -> TransformResult:
    """The pipeline step: run the transform inside its MLflow run and log what it produced.

    See `beam_flags` for how `beam_options_json` and `s3_endpoint_url` become Beam's flags.
    """
    spec = get_spec(dataset)
    beam_options = beam_flags(beam_options_json, s3_endpoint_url)
    with tracking.step_run(tracking_uri, pipeline_run_id, "transform"):
        result = run_transform(
            data_uri, spec, transform_graph_dir, examples_dir, eval_data_file, beam_runner, beam_options
        )
        mlflow.log_params({"beam_runner": beam_runner, "eval_fraction": spec.eval_fraction})
        mlflow.log_metrics({"train_rows": result.train_rows, "eval_rows": result.eval_rows})
        mlflow.log_dict(asdict(result), "transform/result.json")
    return result
