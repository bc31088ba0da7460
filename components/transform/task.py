"""Run tf.Transform on Beam: deterministic three-way split, analysis on train, transformed TFRecords.

The raw files (CSV or Parquet, one or many: `reads`) reach tf.Transform as Arrow record batches and
leave it as record batches, encoded into tf.Examples a batch at a time (`batches`, `records`). The
files are read twice, once for the analysis and once for the transform: a runner that runs stage by
stage (the DirectRunner) would otherwise hold every row in memory until the analysis ends; so the
step's memory stays flat in rows, at the price of parsing each row twice. The DirectRunner gets a
thread per core on inputs big enough to pay for them (`direct`).

The runner and its options are parameters: DirectRunner on one machine, or a portable runner (Flink,
Spark) or Dataflow with their usual options. Every location is a URI: local paths for the DirectRunner,
the pipeline root's object store for runners whose workers are other machines (see `OutputLocations`).

The step is cached on a cluster, so its inputs are content only (the data's digest, the spec's
fingerprint, the Beam settings), never a per-run value; it logs nothing to MLflow itself, and the
train step records what it produced on the pipeline's run.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

import apache_beam as beam
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, S3Options

from components.common.content import ContentDigest
from components.common.specs import get_spec, spec_fingerprint
from components.common.specs.base import DatasetSpec
from components.data.sources import DataSource, check_unchanged, resolve_source
from components.data.spans import is_span_pattern
from components.transform.batches import EVAL_RAW, tensor_adapter_config
from components.transform.direct import with_direct_workers
from components.transform.features import make_preprocessing_fn
from components.transform.layout import EVAL, TRAIN, TRANSFORMED_FILE_SUFFIX, VALIDATION
from components.transform.reads import RawReads, check_validated, newest_span
from components.transform.records import WriteExamples
from components.transform.rows import COUNTER_NAMESPACE, HASH_SPLIT, SPLITS, RawRowError, to_csv_line

__all__ = ["RawRowError", "TransformResult", "beam_flags", "run_transform", "run_transform_step"]


# Runners whose workers share this process's disk; any other writes to the pipeline root's URIs.
IN_PROCESS_RUNNERS = frozenset({"DirectRunner", "InteractiveRunner"})


@dataclass(frozen=True)
class OutputLocations:
    """Where the step writes: the artifacts' local paths, or their URIs in the pipeline root."""

    transform_graph: str
    examples: str
    eval_data: str
    temp: str | None

    @classmethod
    def for_runner(
        cls, runner: str, paths: Sequence[str], uris: Sequence[str], beam_options: Sequence[str] = ()
    ) -> OutputLocations:
        """`paths` and `uris` are the (graph, examples, eval data) artifacts' local paths and URIs.

        Workers of a distributed runner cannot see this pod's disk, so they write to the URIs, and
        tf.Transform's temp dir sits beside them. The examples and eval rows are written by Beam, whose
        file systems include s3://; the graph and the temp dir by TensorFlow, whose file systems have
        gs:// and hdfs:// but (since TF 2.6, without tensorflow-io) no s3://: an s3:// root is refused
        then, naming why. A portable runner with `--environment_type=LOOPBACK` runs its workers in
        this process: Beam's outputs go to the URIs as a distributed runner's would, TensorFlow's stay here.
        """
        if runner in IN_PROCESS_RUNNERS:
            return cls(*paths, temp=None)
        graph, examples, eval_data = uris
        if PipelineOptions(list(beam_options)).view_as(PortableOptions).environment_type == "LOOPBACK":
            return cls(paths[0], examples, eval_data, temp=None)
        if "://" not in graph or graph.startswith("file://"):
            raise ValueError(
                f"beam_runner {runner} runs on other machines, but the pipeline root is local ({graph}): "
                "run the pipeline with a gs:// or hdfs:// pipeline root"
            )
        if graph.startswith("s3://"):
            raise ValueError(
                f"beam_runner {runner} needs tf.Transform's temp and outputs on a store TensorFlow can write, "
                f"and TensorFlow 2.21 has no s3:// file system ({graph}): use a gs:// or hdfs:// pipeline root, "
                "or the DirectRunner (or a portable runner with --environment_type=LOOPBACK), whose workers "
                "write TensorFlow's outputs on this pod's disk"
            )
        return cls(graph, examples, eval_data, temp=f"{graph.rsplit('/', 1)[0]}/tft-temp")


@dataclass(frozen=True)
class TransformResult:
    train_rows: int
    validation_rows: int
    eval_rows: int
    runner: str


def run_transform(
    data: str | DataSource,
    spec: DatasetSpec,
    transform_graph_dir: Path | str,
    examples_dir: Path | str,
    eval_data_file: Path | str,
    beam_runner: str = "DirectRunner",
    beam_options: Sequence[str] = (),
    expected_content: ContentDigest | None = None,
    temp_dir: str | None = None,
    split: str = HASH_SPLIT,
) -> TransformResult:
    """Analyze on the train split, transform all three, write everything the trainer and evaluate need.

    `data` is a DATA_URI (resolved here) or a source resolved earlier. Writes the transform graph to
    `transform_graph_dir`, gzipped tf.Example files `train-*`, `validation-*` and `eval-*` under
    `examples_dir`, and the eval split's raw rows (CSV with a header, in the spec's column order) to
    `eval_data_file`. With `expected_content` (validate's digest), the files must be the ones validate
    read; every file is checked again after Beam read it, so the rows transformed are the rows validated.
    `split` is "hash" (by a hash of each row) or "time" (the newest span is eval; see `rows`).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: expected one of {list(SPLITS)}")
    options = PipelineOptions(list(beam_options), runner=beam_runner)
    # Reading the headers happens outside the pipeline: give the file systems (S3, GCS) their options too.
    beam.io.filesystems.FileSystems.set_options(options)
    if isinstance(data, DataSource):
        source = data
        check_unchanged(source, "before transform read it")
    else:
        source = resolve_source(data, endpoint_url=options.view_as(S3Options).s3_endpoint_url or "")
    if expected_content is not None:
        check_validated(source, expected_content)
    newest = newest_span(source, split)
    examples_root, eval_file = str(examples_dir).rstrip("/"), str(eval_data_file)
    for local in (Path(p) for p in (examples_root, Path(eval_file).parent) if "://" not in str(p)):
        local.mkdir(parents=True, exist_ok=True)
    config = tensor_adapter_config(spec)
    read = RawReads(spec, source, newest)
    size = sum(file.size for file in source.files)

    with tempfile.TemporaryDirectory(prefix="tft-") as local_temp:
        pipeline = beam.Pipeline(options=with_direct_workers(beam_options, beam_runner, size))
        with tft_beam.Context(temp_dir=temp_dir or local_temp):
            analysed = read.expand(pipeline, "ForAnalysis", for_analysis=True)
            transform_fn = (analysed[TRAIN], config) | "Analyze" >> tft_beam.AnalyzeDataset(make_preprocessing_fn(spec))
            batches = read.expand(pipeline, "", for_analysis=False)
            for name in (TRAIN, VALIDATION, EVAL):
                dataset = ((batches[name], config), transform_fn) | (
                    f"Transform{name}" >> tft_beam.TransformDataset(output_record_batches=True)
                )
                _ = dataset | f"Write{name}" >> WriteExamples(f"{examples_root}/{name}", TRANSFORMED_FILE_SUFFIX)
            _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(str(transform_graph_dir))
            _ = batches[EVAL_RAW] | "WriteEvalRaw" >> beam.io.WriteToText(
                eval_file, header=to_csv_line(spec.column_names), shard_name_template="", num_shards=1
            )
        result = pipeline.run()
        result.wait_until_finish()
    check_unchanged(source, "while transform read it")

    query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(COUNTER_NAMESPACE))
    counters: dict[str, int] = {}
    for counter in query["counters"]:  # one per step that counts (a CSV file's split, or the Parquet read)
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + counter.committed
    return TransformResult(
        train_rows=int(counters.get(f"{TRAIN}_rows", 0)),
        validation_rows=int(counters.get(f"{VALIDATION}_rows", 0)),
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
    data_digest: ContentDigest,
    dataset: str,
    expected_spec_fingerprint: str,
    beam_runner: str,
    beam_options_json: str,
    transform_graph_dir: Path | str,
    examples_dir: Path | str,
    eval_data_file: Path | str,
    s3_endpoint_url: str = "",
    temp_dir: str | None = None,
    split: str = HASH_SPLIT,
    *,
    window: int | None = None,
    at: date | None = None,
    allow_missing_spans: bool = False,
) -> TransformResult:
    """The pipeline step: the files validate passed, under the spec validate used, transformed.

    See `beam_flags` for how `beam_options_json` and `s3_endpoint_url` become Beam's flags. A span
    pattern is resolved with validate's window, day and ALLOW_MISSING_SPANS, so both read the same spans
    (and the digest check says so).
    """
    fingerprint = spec_fingerprint(dataset)
    if fingerprint != expected_spec_fingerprint:
        raise ValueError(
            f"spec {dataset!r} differs from the one validate checked the data with (fingerprint {fingerprint}, "
            f"validate had {expected_spec_fingerprint}): the steps run different code; redeploy one version"
        )
    data: str | DataSource = data_uri
    if is_span_pattern(data_uri):
        data = resolve_source(
            data_uri, window=window, at=at, allow_missing_spans=allow_missing_spans, endpoint_url=s3_endpoint_url
        )
    return run_transform(
        data,
        get_spec(dataset),
        transform_graph_dir,
        examples_dir,
        eval_data_file,
        beam_runner,
        beam_flags(beam_options_json, s3_endpoint_url),
        expected_content=data_digest,
        temp_dir=temp_dir,
        split=split,
    )
