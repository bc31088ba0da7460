"""The TensorFlow Serving layout: `<store>/<model>/serving/<registry version>/`, beside the versions' own folders.

TensorFlow Serving (and KServe's TensorFlow runtime) reads a base path of numeric version folders and
serves the highest. Push writes a version's folder only when the version becomes champion, under the
champion lock, just before the alias moves (and removes it if the move fails), and rollback
(components/serve/registry.py) removes the folder of the version it rolls back from: so the highest
folder is always the champion's. The folder holds the same files and MANIFEST.sha256 as the version's
own prefix (TensorFlow Serving reads the SavedModel at its root and ignores MLflow's files).

On a local store the folder appears whole: it is written beside the target under a dotted name (which
TensorFlow Serving skips, not being a number), verified, and renamed into place. S3 has no rename: the
objects are written under the final prefix, the manifest last, then verified.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from components.common import storage

SERVING = "serving"
PARTIAL_SUFFIX = ".partial"


def serving_root(version_source: str) -> str:
    """`<store>/<model>/serving` for a version whose source is `<store>/<model>/<its own folder>`."""
    return f"{version_source.rstrip('/').rsplit('/', 1)[0]}/{SERVING}"


def serving_uri(version_source: str, version: str) -> str:
    return f"{serving_root(version_source)}/{int(version)}"


def write(model_dir: Path, uri: str, checksums: dict[str, str], endpoint_url: str | None) -> None:
    """Copy the model to the serving folder `uri`, unless an intact copy is already there (a retry's)."""
    try:
        storage.verify_dir(uri, checksums, endpoint_url)
        return
    except storage.ChecksumMismatchError:
        pass
    if urlparse(uri).scheme != "s3":
        location = Path(unquote(urlparse(uri).path)) if uri.startswith("file://") else Path(uri)
        partial = location.parent / f".{location.name}-{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
        storage.upload_dir(model_dir, str(partial))
        storage.verify_dir(str(partial), checksums)
        storage.delete_prefix(uri)  # what a failed earlier attempt left
        partial.rename(location)
        return
    storage.delete_prefix(uri, endpoint_url)
    storage.upload_dir(model_dir, uri, endpoint_url)
    storage.verify_dir(uri, checksums, endpoint_url)


def sweep_partials(version_source: str, endpoint_url: str | None) -> list[str]:
    """Remove unfinished local serving copies: only a dead push leaves one (they are written under the lock)."""
    root = serving_root(version_source)
    removed = []
    for folder in storage.list_prefixes(root, endpoint_url):
        if folder.startswith(".") and folder.endswith(PARTIAL_SUFFIX):
            storage.delete_prefix(f"{root}/{folder}", endpoint_url)
            removed.append(f"{root}/{folder}")
    return removed
