"""What validate read, recorded on the MLflow run: dataset inputs, and tags naming the spans and files.

The whole source is one MLflow dataset input (its URI, the manifest digest, the spec's schema, its row
count); a span pattern adds one input per span read (the span's URI and the digest of its files' manifest
lines), so the run lists exactly the days it trained on. Each is a `MetaDataset`: it records the data
without holding its rows, so data of any size costs nothing here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag, RunTag
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, DataType, Schema
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from components.common.specs.base import DatasetSpec
from components.data.source_tags import source_tags
from components.data.sources import DataSource
from components.data.spans import SpanPattern

# MLflow keeps at most 36 characters of a dataset's digest: it gets the SHA-256's first 12 (as a short
# commit), and the dataset input's `data_sha256` tag the whole of it.
DATASET_DIGEST_CHARS = 12
SHA256_TAG = "data_sha256"
SPAN_INPUT_TAG = "span"
MLFLOW_TYPES = {"float": DataType.double, "int": DataType.long, "string": DataType.string}


class RawFileDataset(MetaDataset):
    """Raw data as MLflow sees a dataset: its source, digest, spec schema and row count (when counted)."""

    def __init__(self, source_uri: str, name: str, spec: DatasetSpec, digest: str, rows: int | None) -> None:
        self._rows = rows
        source_type = "s3" if source_uri.startswith("s3://") else "local"
        if "://" not in source_uri:
            source_uri = str(Path(source_uri).absolute()) + ("/" if source_uri.endswith("/") else "")
        source = get_dataset_source_from_json(json.dumps({"uri": source_uri}), source_type)
        columns = [ColSpec(MLFLOW_TYPES[c.dtype], c.name, required=c.max_null_fraction == 0) for c in spec.columns]
        super().__init__(source, name=name, digest=digest, schema=Schema(columns))

    @property
    def profile(self) -> dict[str, int]:
        if self._rows is None:
            return {}
        return {"num_rows": self._rows, "num_elements": self._rows * len(self.schema.inputs)}

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self.profile)}


def _input(dataset: RawFileDataset, sha256: str, *tags: InputTag) -> DatasetInput:
    context = [InputTag(MLFLOW_DATASET_CONTEXT, "training"), InputTag(SHA256_TAG, sha256), *tags]
    return DatasetInput(dataset._to_mlflow_entity(), tags=context)


def data_lineage(source: DataSource, spec: DatasetSpec, rows: int) -> list[DatasetInput]:
    """The source as the training input of an MLflow run, then each span read (oldest first)."""
    whole = source.digest().sha256
    inputs = [_input(RawFileDataset(source.data_uri, spec.name, spec, whole[:DATASET_DIGEST_CHARS], rows), whole)]
    if not source.spans:
        return inputs
    pattern = SpanPattern.parse(source.data_uri)
    for span in source.spans:
        lines = sorted(f"{f.uri}\t{f.size}\t{f.sha256}" for f in source.files if f.span == span)
        sha256 = hashlib.sha256("".join(f"{line}\n" for line in lines).encode("utf-8")).hexdigest()
        dataset = RawFileDataset(pattern.uri_of(span), f"{spec.name}@{span}", spec, sha256[:DATASET_DIGEST_CHARS], None)
        inputs.append(_input(dataset, sha256, InputTag(SPAN_INPUT_TAG, span)))
    return inputs


def record_source(client: MlflowClient, run_ids: list[str], source: DataSource, spec: DatasetSpec, rows: int) -> None:
    """The dataset inputs and the source's tags (spans, files) on each of `run_ids`."""
    inputs = data_lineage(source, spec, rows)
    tags = [RunTag(key, value) for key, value in source_tags(source).items()]
    for run_id in run_ids:
        client.log_inputs(run_id, datasets=inputs)
        client.log_batch(run_id, tags=tags)
