"""Copy directories and files to and from a store: a path, a file:// URI or s3://bucket/prefix.

The verbs callers use; how a URI is read and its names kept below their prefix is
components.common.store_location, the S3 client (endpoint, retries, timeouts, encryption)
components.common.s3_client, and the checksums and `MANIFEST.sha256` components.common.manifest.
Their public names are exported here too, so callers import one module.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping

from components.common.manifest import (
    MANIFEST_NAME,
    check_against_manifest,
    dir_checksums,
    local_files,
    manifest_digest,
    manifest_text,
    sha256_of,
)
from components.common.s3_client import (
    S3_MAX_ATTEMPTS,
    SSE_KMS_KEY_VARIABLE,
    SSE_VARIABLE,
    encryption_args,
    s3_client,
    s3_errors,
    s3_folders,
    s3_keys,
)
from components.common.store_location import ChecksumMismatchError, StorageError, below, parse

__all__ = [
    "MANIFEST_NAME",
    "S3_MAX_ATTEMPTS",
    "SSE_KMS_KEY_VARIABLE",
    "SSE_VARIABLE",
    "ChecksumMismatchError",
    "StorageError",
    "delete_prefix",
    "dir_checksums",
    "download_dir",
    "download_file",
    "encryption_args",
    "list_prefixes",
    "manifest_digest",
    "manifest_text",
    "upload_dir",
    "verify_dir",
]


def upload_dir(local_dir: Path, destination_uri: str, endpoint_url: str | None = None) -> dict[str, str]:
    """Copy every file under `local_dir` to `destination_uri`, then the manifest.

    Returns {relative path: sha256} of the files copied (the manifest excluded).
    """
    files = local_files(local_dir)
    if not files:
        raise StorageError(f"uploading {local_dir} to {destination_uri} failed: no files in {local_dir}")
    checksums = dir_checksums(local_dir)
    manifest = manifest_text(checksums).encode()
    location = parse(destination_uri)
    if isinstance(location, Path):
        for name, path in files.items():
            target = location / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        (location / MANIFEST_NAME).write_bytes(manifest)
        return checksums
    client = s3_client(endpoint_url)
    encryption = encryption_args()
    for name, path in files.items():
        with s3_errors("uploading", f"{destination_uri.rstrip('/')}/{name}"):
            client.upload_file(str(path), location.bucket, location.key(name), ExtraArgs=encryption or None)
    with s3_errors("uploading", f"{destination_uri.rstrip('/')}/{MANIFEST_NAME}"):
        client.put_object(Bucket=location.bucket, Key=location.key(MANIFEST_NAME), Body=manifest, **encryption)
    return checksums


def verify_dir(destination_uri: str, expected: Mapping[str, str], endpoint_url: str | None = None) -> None:
    """Re-read every object under `destination_uri` and compare it with `expected` and the manifest.

    Raises ChecksumMismatchError naming each object that is missing, unexpected or altered.
    """
    wanted = {**expected, MANIFEST_NAME: manifest_digest(expected)}
    root = destination_uri.rstrip("/")
    location = parse(destination_uri)
    actual = {}
    if isinstance(location, Path):
        for name, path in (local_files(location) if location.is_dir() else {}).items():
            with path.open("rb") as stream:
                actual[name] = sha256_of(stream)
    else:
        client = s3_client(endpoint_url)
        for name, key in s3_keys(client, location, destination_uri).items():
            with s3_errors("reading", f"{root}/{name}"):
                actual[name] = sha256_of(client.get_object(Bucket=location.bucket, Key=key)["Body"])
    problems = [f"{root}/{name}: missing" for name in sorted(wanted.keys() - actual.keys())]
    problems += [f"{root}/{name}: not written by this upload" for name in sorted(actual.keys() - wanted.keys())]
    problems += [
        f"{root}/{name}: sha256 {actual[name]}, expected {wanted[name]}"
        for name in sorted(wanted.keys() & actual.keys())
        if actual[name] != wanted[name]
    ]
    if problems:
        raise ChecksumMismatchError("verification failed:\n  " + "\n  ".join(problems))


def download_dir(source_uri: str, destination: Path, endpoint_url: str | None = None) -> Path:
    """Copy everything under `source_uri` into `destination`; returns `destination`.

    Every key is checked to stay below the prefix before anything is written (StorageError naming the
    key otherwise). When the source holds a manifest, the copies are checked against it.
    """
    location = parse(source_uri)
    if isinstance(location, Path):
        if not location.is_dir():
            raise StorageError(f"downloading {source_uri} failed: no such directory")
        shutil.copytree(location, destination, dirs_exist_ok=True)
    else:
        client = s3_client(endpoint_url)
        keys = s3_keys(client, location, source_uri)
        if not keys:
            raise StorageError(f"downloading {source_uri} failed: no objects under this prefix")
        root = source_uri.rstrip("/")
        targets = {key: below(name, f"downloading {root}") for name, key in keys.items()}
        for key, name in targets.items():
            if not name:  # a folder marker ("prefix/"), which holds no file
                continue
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with s3_errors("downloading", f"{root}/{name}"):
                client.download_file(location.bucket, key, str(target))
    manifest = destination / MANIFEST_NAME
    if manifest.is_file():
        check_against_manifest(destination, manifest, source_uri)
    return destination


def download_file(uri: str, destination: Path, endpoint_url: str | None = None) -> Path:
    """Copy the single file at `uri` to the path `destination`; returns `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    location = parse(uri)
    if isinstance(location, Path):
        if not location.is_file():
            raise StorageError(f"downloading {uri} failed: no such file")
        shutil.copyfile(location, destination)
        return destination
    if not location.prefix:
        raise ValueError(f"{uri!r}: names a bucket, not an object")
    with s3_errors("downloading", uri):
        s3_client(endpoint_url).download_file(location.bucket, location.prefix, str(destination))
    return destination


def delete_prefix(uri: str, endpoint_url: str | None = None) -> None:
    """Remove everything under `uri`. Nothing there, or no such bucket, is not an error."""
    location = parse(uri)
    if isinstance(location, Path):
        if location.is_dir():
            shutil.rmtree(location)
        elif location.exists():
            location.unlink()
        return
    client = s3_client(endpoint_url)
    try:
        keys = list(s3_keys(client, location, uri).values())
    except StorageError as error:
        if error.code == "NoSuchBucket":
            return
        raise
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        with s3_errors("deleting", uri):
            response = client.delete_objects(Bucket=location.bucket, Delete={"Objects": batch, "Quiet": True})
        if response.get("Errors"):
            failed = ", ".join(f"{e['Key']} ({e['Code']})" for e in response["Errors"])
            raise StorageError(f"deleting {uri} failed for: {failed}")


def list_prefixes(uri: str, endpoint_url: str | None = None) -> list[str]:
    """Names of the folders (S3: common prefixes) directly under `uri`, sorted; [] when there is nothing."""
    location = parse(uri)
    if isinstance(location, Path):
        return sorted(path.name for path in location.iterdir() if path.is_dir()) if location.is_dir() else []
    return s3_folders(s3_client(endpoint_url), location, uri)
