"""The validated file as an MLflow dataset input: where it is, its digest, the spec's schema, its row count.

It records the file without holding its rows (a `MetaDataset`), so a file of any size costs nothing here.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.types import ColSpec, DataType, Schema
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from components.common.specs.base import DatasetSpec

# MLflow keeps at most 36 characters of a dataset's digest: it gets the SHA-256's first 12 (as a short
# commit), and the dataset input's `data_sha256` tag the whole of it.
DATASET_DIGEST_CHARS = 12
SHA256_TAG = "data_sha256"
MLFLOW_TYPES = {"float": DataType.double, "int": DataType.long, "string": DataType.string}


class RawFileDataset(MetaDataset):
    """A raw file as MLflow sees a dataset: its source, digest, spec schema and row count, without its rows."""

    def __init__(self, source_uri: str, spec: DatasetSpec, digest: str, rows: int) -> None:
        self._rows = rows
        source_type = "s3" if source_uri.startswith("s3://") else "local"
        if "://" not in source_uri:
            source_uri = str(Path(source_uri).absolute())
        source = get_dataset_source_from_json(json.dumps({"uri": source_uri}), source_type)
        columns = [ColSpec(MLFLOW_TYPES[c.dtype], c.name, required=c.max_null_fraction == 0) for c in spec.columns]
        super().__init__(source, name=spec.name, digest=digest, schema=Schema(columns))

    @property
    def profile(self) -> dict[str, int]:
        return {"num_rows": self._rows, "num_elements": self._rows * len(self.schema.inputs)}

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self.profile)}


def data_lineage(data_uri: str, spec: DatasetSpec, sha256: str, rows: int) -> DatasetInput:
    """The validated file as the training input of an MLflow run."""
    dataset = RawFileDataset(data_uri, spec, sha256[:DATASET_DIGEST_CHARS], rows)
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, "training"), InputTag(SHA256_TAG, sha256)]
    return DatasetInput(dataset._to_mlflow_entity(), tags=tags)
