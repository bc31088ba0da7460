"""The TensorFlow Serving layout: `<store>/<model>/serving/<registry version>/`, beside the versions' own folders.

TensorFlow Serving (and KServe's TensorFlow runtime) reads a base path of numeric version folders and
serves the highest, so the highest folder must be the champion's. Push writes a version's folder only
after the alias has moved to it, under the champion lock: a push that dies before the move leaves none
(an unfinished local copy is a dotted folder, which the next push's sweep removes), and one that dies
between the move and the copy leaves the previous champion served until its rerun, or the next push of
any run (`restore`), writes the copy from the champion's own folder. Rollback (components/serve/registry.py)
removes the folder of the version it rolls back from. The folder holds the same files and MANIFEST.sha256
as the version's own prefix (TensorFlow Serving reads the SavedModel at its root and ignores MLflow's files).

On a local store the folder appears whole: it is written beside the target under a dotted name (which
TensorFlow Serving skips, not being a number), verified, and renamed into place. S3 has no rename: the
objects are written under the final prefix, the manifest last, then verified; a failed write removes them.
"""

from __future__ import annotations

import hashlib
import tempfile
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
    """Copy the model to the serving folder `uri`, unless an intact copy is already there (a retry's).

    A write that fails leaves no folder at `uri`: TensorFlow Serving would try to serve a partial one.
    """
    try:
        storage.verify_dir(uri, checksums, endpoint_url)
        return
    except storage.ChecksumMismatchError:
        pass
    if urlparse(uri).scheme != "s3":
        location = Path(unquote(urlparse(uri).path)) if uri.startswith("file://") else Path(uri)
        partial = location.parent / f".{location.name}-{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
        try:
            storage.upload_dir(model_dir, str(partial))
            storage.verify_dir(str(partial), checksums)
            storage.delete_prefix(uri)  # what a failed earlier attempt left
            partial.rename(location)
        finally:
            storage.delete_prefix(str(partial))
        return
    try:
        storage.delete_prefix(uri, endpoint_url)
        storage.upload_dir(model_dir, uri, endpoint_url)
        storage.verify_dir(uri, checksums, endpoint_url)
    except BaseException as error:
        try:
            storage.delete_prefix(uri, endpoint_url)
        except Exception as cleanup_error:
            error.add_note(f"could not remove the partial serving copy {uri}: {cleanup_error}")
        raise


def is_complete(uri: str, manifest_sha256: str, endpoint_url: str | None) -> bool:
    """Whether the serving folder `uri` holds a finished copy of the version whose manifest digest is given.

    Its manifest is written last (on a local store the folder appears whole), so the manifest's digest
    stands for the folder without re-reading every file.
    """
    with tempfile.TemporaryDirectory(prefix="serving-manifest-") as scratch:
        try:
            manifest = storage.download_file(f"{uri}/{storage.MANIFEST_NAME}", Path(scratch) / "manifest", endpoint_url)
        except storage.StorageError:
            return False
        return hashlib.sha256(manifest.read_bytes()).hexdigest() == manifest_sha256


def restore(version_source: str, version: str, manifest_sha256: str, endpoint_url: str | None) -> bool:
    """Give the champion `version` its serving folder, copied from its own folder, if it lacks a finished one
    (its push died between moving the alias and the copy); returns whether it wrote one."""
    uri = serving_uri(version_source, version)
    if is_complete(uri, manifest_sha256, endpoint_url):
        return False
    with tempfile.TemporaryDirectory(prefix="serving-restore-") as scratch:
        local = storage.download_dir(version_source, Path(scratch) / "model", endpoint_url)  # checked on the way
        (local / storage.MANIFEST_NAME).unlink()  # the copy gets its own, from the same checksums
        checksums = storage.dir_checksums(local)
        if storage.manifest_digest(checksums) != manifest_sha256:
            raise storage.ChecksumMismatchError(
                f"cannot restore {uri}: the files of {version_source} are not the ones version {version} registered"
            )
        write(local, uri, checksums, endpoint_url)
    return True


def sweep_partials(version_source: str, endpoint_url: str | None) -> list[str]:
    """Remove unfinished local serving copies: only a dead push leaves one (they are written under the lock)."""
    root = serving_root(version_source)
    removed = []
    for folder in storage.list_prefixes(root, endpoint_url):
        if folder.startswith(".") and folder.endswith(PARTIAL_SUFFIX):
            storage.delete_prefix(f"{root}/{folder}", endpoint_url)
            removed.append(f"{root}/{folder}")
    return removed
