"""Where a scoring run's output goes, and how it is published so that no reader sees part of it.

One run's output is a prefix `<OUTPUT_URI>/<model>/v<version>/<input digest>/` holding `predictions/part-*.parquet`,
`rejects.parquet` (each refused row's number, keys and reason) and `summary.json`. It is built in a local
staging folder and copied there with `storage.upload_dir`, which writes MANIFEST.sha256 after every other
file: the manifest is the marker. `read_scores` refuses a prefix without it (an unfinished or killed
write) and checks every file against it. A rerun on the same input and version removes the old manifest
first, then the rest of the old output, then writes its own: the same prefix is replaced, never mixed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from components.common import storage
from components.common.manifest import check_against_manifest
from components.common.store_location import parse

PREDICTIONS = "predictions"
REJECTS = "rejects.parquet"
SUMMARY = "summary.json"


class UnfinishedOutputError(RuntimeError):
    """A prefix without its manifest: the write that made it did not finish (or there is none)."""


def output_prefix(output_uri: str, model_name: str, version: str, data_sha256: str) -> str:
    """The one place a run of this model version on this input writes (a rerun replaces it)."""
    return f"{output_uri.rstrip('/')}/{model_name}/v{version}/{data_sha256[:16]}"


def retract(prefix: str, endpoint_url: str = "") -> None:
    """Remove a previous output: its manifest first, so that it stops being readable before any part goes."""
    storage.delete_prefix(f"{prefix.rstrip('/')}/{storage.MANIFEST_NAME}", endpoint_url or None)
    storage.delete_prefix(prefix, endpoint_url or None)


def publish(staging: Path, prefix: str, endpoint_url: str = "") -> dict[str, str]:
    """Replace the output at `prefix` with the files under `staging`, the manifest last."""
    retract(prefix, endpoint_url)
    return storage.upload_dir(staging, prefix, endpoint_url or None)


def is_output(uri: str, endpoint_url: str = "") -> bool:
    """Whether `uri` holds a scoring output, finished or not: its `predictions/` folder is written first."""
    return PREDICTIONS in storage.list_prefixes(uri, endpoint_url or None)


def read_scores(prefix: str, endpoint_url: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions, rejects) of a finished output, every file checked against its manifest."""
    predictions, rejects, _ = read_output(prefix, endpoint_url)
    return predictions, rejects


def read_output(prefix: str, endpoint_url: str = "") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(predictions, rejects, summary) of a finished output, every file checked against its manifest; the
    summary is {} where the output has none."""
    location = parse(prefix)
    with tempfile.TemporaryDirectory(prefix="scores-") as scratch:
        if isinstance(location, Path):
            local = location
        else:
            local = storage.download_dir(prefix, Path(scratch), endpoint_url or None)
        manifest = local / storage.MANIFEST_NAME
        if not manifest.is_file():
            raise UnfinishedOutputError(
                f"{prefix}: no {storage.MANIFEST_NAME}, so no finished scoring output (a write died, or none ran)"
            )
        check_against_manifest(local, manifest, prefix)
        parts = sorted((local / PREDICTIONS).glob("part-*.parquet"))
        predictions = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True) if parts else None
        rejects = pd.read_parquet(local / REJECTS)
        summary = json.loads((local / SUMMARY).read_text(encoding="utf-8")) if (local / SUMMARY).is_file() else {}
    if predictions is None:
        predictions = pd.DataFrame()
    return predictions, rejects, summary
