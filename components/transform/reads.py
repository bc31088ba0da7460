"""The transform pipeline's reads of a source: CSV lines file by file, or Parquet files through the reader.

CSV keeps Beam's line-parallel text read (each file split into bundles by byte range, its header
skipped), so a big file is parsed on every worker; Parquet files are read whole by one worker each.
Either read gives per split a PCollection of tf.Transform record batches, and the eval rows as CSV text.
"""

from __future__ import annotations

from collections import defaultdict

import apache_beam as beam

from components.common.content import ContentChangedError, ContentDigest
from components.common.specs.base import DatasetSpec
from components.data.sources import DataSource
from components.transform.batches import BATCH_ROWS, EVAL_RAW, ReadParquet, SplitLines, ToRecordBatch
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.rows import HASH_SPLIT, common_header

_TAGS = (TRAIN, VALIDATION, EVAL, EVAL_RAW)


def newest_span(source: DataSource, split: str) -> str | None:
    """The span whose rows are the eval split under split=time (None under split=hash)."""
    if split == HASH_SPLIT:
        return None
    if len(source.spans) < 2:
        raise ValueError(
            f"split=time evaluates on the newest span and trains on the older ones, but {source.data_uri} has "
            f"{len(source.spans)} span(s) {list(source.spans)}; expected a span pattern (e.g. date={{YYYY-MM-DD}}) "
            "resolving to at least 2 spans"
        )
    return source.spans[-1]


def check_validated(source: DataSource, expected: ContentDigest) -> None:
    """The source must be the files validate read: its manifest's digest, or (one file) that file's own digest."""
    pinned = {source.digest()}
    if len(source.files) == 1:
        pinned.add(ContentDigest(source.files[0].sha256, source.files[0].size))
    if expected not in pinned:
        actual = source.digest()
        raise ContentChangedError(
            f"{source.data_uri} changed since validate checked it (before transform read it): its {len(source.files)} "
            f"file(s) have digest "
            f"sha256 {actual.sha256} and {actual.size} bytes, validate passed sha256 {expected.sha256} and "
            f"{expected.size} bytes; rerun the pipeline"
        )


class RawReads:
    """Builds one read of `source` into a pipeline; the analysis reads the train rows, the transform all."""

    def __init__(self, spec: DatasetSpec, source: DataSource, newest: str | None) -> None:
        self._spec, self._source, self._newest = spec, source, newest
        self._header = common_header(source.files, spec) if source.format == "csv" else None
        eval_fraction = spec.eval_fraction if newest is None else 0.0
        self._fractions = (eval_fraction, spec.validation_fraction)

    def expand(self, pipeline: beam.Pipeline, label: str, for_analysis: bool) -> dict[str, beam.PCollection]:
        """Per split (train only for the analysis; train, validation, eval and EVAL_RAW otherwise) one PCollection."""
        wanted = (TRAIN,) if for_analysis else _TAGS
        parts = defaultdict(list)
        if self._source.format == "csv":
            for index, file in enumerate(self._source.files):
                split = SplitLines(
                    self._spec,
                    self._header,
                    file.uri,
                    self._fractions,
                    for_analysis,
                    all_eval=self._newest is not None and file.span == self._newest,
                )
                tagged = (
                    pipeline
                    | f"Read{label}{index}" >> beam.io.ReadFromText(file.uri, skip_header_lines=1)
                    | f"Split{label}{index}" >> beam.ParDo(split).with_outputs(*_TAGS)
                )
                parts[EVAL_RAW].append(tagged[EVAL_RAW])
                for name in (name for name in (TRAIN, VALIDATION, EVAL) if name in wanted):
                    to_batch = ToRecordBatch(self._spec, self._header, file.uri)
                    parts[name].append(
                        tagged[name]
                        | f"Batch{name}{label}{index}"
                        >> beam.BatchElements(min_batch_size=BATCH_ROWS, max_batch_size=BATCH_ROWS)
                        | f"{name}RecordBatches{label}{index}" >> beam.ParDo(to_batch)
                    )
        else:
            read = ReadParquet(self._spec, self._fractions, for_analysis, self._newest, self._source.endpoint_url)
            tagged = (
                pipeline
                | f"Files{label}" >> beam.Create(list(self._source.files))
                | f"Spread{label}" >> beam.Reshuffle()
                | f"ReadParquet{label}" >> beam.ParDo(read).with_outputs(*_TAGS)
            )
            for name in _TAGS:
                parts[name].append(tagged[name])
        return {name: tuple(parts[name]) | f"Flatten{name}{label}" >> beam.Flatten() for name in wanted}
