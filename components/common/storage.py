"""Copy directories and files to and from a store: a path, a file:// URI or s3://bucket/prefix.

S3 is reached through boto3 at `endpoint_url` when given, else at
`MLFLOW_S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL` (MinIO and other S3-compatible
servers), else at AWS. Credentials come only from boto3's own chain (the
environment, a mounted Kubernetes Secret exposed as AWS_* variables or a web
identity token); this module never takes or stores a key.

Every S3 call goes through one client configuration, `S3_CLIENT_SETTINGS`: bounded
retries with exponential backoff and jitter (botocore's "standard" mode retries
throttling such as 503 SlowDown, 5xx replies and dropped connections), and
connect/read timeouts, so an S3 outage ends in a StorageError within about a
minute instead of hanging the step.

When `S3_SSE` is set (`AES256` or `aws:kms`, with `S3_SSE_KMS_KEY_ID` optionally
naming the key), every object written asks for that server-side encryption.

An uploaded directory gets a `MANIFEST.sha256` beside its files, in `sha256sum`
format, so that anyone can check a copy without this module. It is written after
every file, so a prefix without it is an unfinished upload.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Mapping
from urllib.parse import unquote, urlparse

MANIFEST_NAME = "MANIFEST.sha256"
_CHUNK = 1 << 20
_HEAD_ERRORS = {"404": "(no such object or bucket)", "403": "(access denied)"}

# The one place S3 retries are decided. 5 attempts in all; "standard" mode waits a random
# 0..2^n seconds (at most 20) between them, so a dead store fails in seconds, a flaky one is ridden out.
S3_MAX_ATTEMPTS = 5
# botocore.config.Config's arguments; boto3 is imported only on an s3:// path (a local store never needs it).
S3_CLIENT_SETTINGS: dict[str, Any] = {
    "retries": {"mode": "standard", "total_max_attempts": S3_MAX_ATTEMPTS},
    "connect_timeout": 5,
    "read_timeout": 60,
}
SSE_VARIABLE = "S3_SSE"
SSE_KMS_KEY_VARIABLE = "S3_SSE_KMS_KEY_ID"
_SSE_MODES = ("AES256", "aws:kms")


class StorageError(RuntimeError):
    """A store could not be read or written; the message names the URI and the cause.

    `code` is S3's error code (NoSuchBucket, AccessDenied, 404...) when S3 gave one.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ChecksumMismatchError(StorageError):
    """What a store holds differs from what was written to it."""


@dataclass(frozen=True)
class _S3Location:
    bucket: str
    prefix: str  # no leading or trailing slash; empty for the bucket's root

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative


def _parse(uri: str) -> _S3Location | Path:
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{uri!r}: an s3:// URI needs a bucket name")
        return _S3Location(parsed.netloc, parsed.path.strip("/"))
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if "://" in uri:
        raise ValueError(f"{uri!r}: unsupported scheme {parsed.scheme!r}; use a path, file:// or s3://")
    return Path(uri)


def _s3_client(endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = endpoint_url or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint, config=Config(**S3_CLIENT_SETTINGS))


def encryption_args() -> dict[str, str]:
    """The server-side encryption every put asks for, from `S3_SSE` / `S3_SSE_KMS_KEY_ID`; {} when unset."""
    mode = os.environ.get(SSE_VARIABLE, "")
    key_id = os.environ.get(SSE_KMS_KEY_VARIABLE, "")
    if not mode:
        if key_id:
            raise ValueError(f"{SSE_KMS_KEY_VARIABLE} is set but {SSE_VARIABLE} is not; set {SSE_VARIABLE}=aws:kms")
        return {}
    if mode not in _SSE_MODES:
        raise ValueError(f"{SSE_VARIABLE}={mode!r}: expected one of {', '.join(_SSE_MODES)}")
    if key_id and mode != "aws:kms":
        raise ValueError(f"{SSE_KMS_KEY_VARIABLE} needs {SSE_VARIABLE}=aws:kms, not {mode!r}")
    return {"ServerSideEncryption": mode, **({"SSEKMSKeyId": key_id} if key_id else {})}


@contextmanager
def _s3_errors(action: str, uri: str) -> Iterator[None]:
    """Turn boto errors into a StorageError that says what was being done, where, and why."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError, S3UploadFailedError) as error:
        # upload_file wraps the ClientError that says why in an S3UploadFailedError.
        client_error = error if isinstance(error, ClientError) else error.__context__
        if not isinstance(client_error, ClientError):
            # Connection refused, cut or timed out: botocore has already spent its retries.
            raise StorageError(f"{action} {uri} failed after up to {S3_MAX_ATTEMPTS} attempts: {error}") from error
        details = client_error.response.get("Error", {})
        code = details.get("Code", "unknown")
        # HEAD requests (download_file) carry no error body, only the HTTP status.
        message = _HEAD_ERRORS.get(code, details.get("Message", ""))
        attempts = client_error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        tried = f" ({attempts} attempts)" if attempts > 1 else ""
        raise StorageError(f"{action} {uri} failed: {code} {message}".rstrip() + tried, code) from error


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _local_files(root: Path) -> dict[str, Path]:
    return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*")) if path.is_file()}


def _s3_keys(client: Any, location: _S3Location, uri: str) -> dict[str, str]:
    """Maps each object's path relative to the prefix to its key."""
    prefix = f"{location.prefix}/" if location.prefix else ""
    keys: dict[str, str] = {}
    with _s3_errors("listing", uri):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                keys[item["Key"][len(prefix) :]] = item["Key"]
    return keys


def manifest_text(checksums: Mapping[str, str]) -> str:
    """The manifest's content: `<sha256>  <relative path>` per line, sorted by path."""
    return "".join(f"{checksums[name]}  {name}\n" for name in sorted(checksums))


def manifest_digest(checksums: Mapping[str, str]) -> str:
    """The SHA-256 of the manifest written for these checksums: one value that pins every file."""
    return hashlib.sha256(manifest_text(checksums).encode()).hexdigest()


def dir_checksums(local_dir: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `local_dir`, as `upload_dir` records them."""
    checksums = {}
    for name, path in _local_files(local_dir).items():
        with path.open("rb") as stream:
            checksums[name] = _sha256(stream)
    return checksums


def upload_dir(local_dir: Path, destination_uri: str, endpoint_url: str | None = None) -> dict[str, str]:
    """Copy every file under `local_dir` to `destination_uri`, then the manifest.

    Returns {relative path: sha256} of the files copied (the manifest excluded).
    """
    files = _local_files(local_dir)
    if not files:
        raise StorageError(f"uploading {local_dir} to {destination_uri} failed: no files in {local_dir}")
    checksums = dir_checksums(local_dir)
    manifest = manifest_text(checksums).encode()
    location = _parse(destination_uri)
    if isinstance(location, Path):
        for name, path in files.items():
            target = location / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        (location / MANIFEST_NAME).write_bytes(manifest)
        return checksums
    client = _s3_client(endpoint_url)
    encryption = encryption_args()
    for name, path in files.items():
        with _s3_errors("uploading", f"{destination_uri.rstrip('/')}/{name}"):
            client.upload_file(str(path), location.bucket, location.key(name), ExtraArgs=encryption or None)
    with _s3_errors("uploading", f"{destination_uri.rstrip('/')}/{MANIFEST_NAME}"):
        client.put_object(Bucket=location.bucket, Key=location.key(MANIFEST_NAME), Body=manifest, **encryption)
    return checksums


def verify_dir(destination_uri: str, expected: Mapping[str, str], endpoint_url: str | None = None) -> None:
    """Re-read every object under `destination_uri` and compare it with `expected` and the manifest.

    Raises ChecksumMismatchError naming each object that is missing, unexpected or altered.
    """
    wanted = {**expected, MANIFEST_NAME: manifest_digest(expected)}
    root = destination_uri.rstrip("/")
    location = _parse(destination_uri)
    if isinstance(location, Path):
        found = _local_files(location) if location.is_dir() else {}
        actual = {}
        for name, path in found.items():
            with path.open("rb") as stream:
                actual[name] = _sha256(stream)
    else:
        client = _s3_client(endpoint_url)
        actual = {}
        for name, key in _s3_keys(client, location, destination_uri).items():
            with _s3_errors("reading", f"{root}/{name}"):
                body = client.get_object(Bucket=location.bucket, Key=key)["Body"]
                actual[name] = _sha256(body)
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

    When the source holds a manifest, the copies are checked against it.
    """
    location = _parse(source_uri)
    if isinstance(location, Path):
        if not location.is_dir():
            raise StorageError(f"downloading {source_uri} failed: no such directory")
        shutil.copytree(location, destination, dirs_exist_ok=True)
    else:
        client = _s3_client(endpoint_url)
        keys = _s3_keys(client, location, source_uri)
        if not keys:
            raise StorageError(f"downloading {source_uri} failed: no objects under this prefix")
        for name, key in keys.items():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with _s3_errors("downloading", f"{source_uri.rstrip('/')}/{name}"):
                client.download_file(location.bucket, key, str(target))
    manifest = destination / MANIFEST_NAME
    if manifest.is_file():
        _check_against_manifest(destination, manifest, source_uri)
    return destination


def _check_against_manifest(directory: Path, manifest: Path, source_uri: str) -> None:
    problems = []
    for line in manifest.read_text().splitlines():
        checksum, name = line.split("  ", 1)
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        with path.open("rb") as stream:
            if _sha256(stream) != checksum:
                problems.append(f"{name}: sha256 differs from the manifest")
    if problems:
        raise ChecksumMismatchError(f"download of {source_uri} failed verification:\n  " + "\n  ".join(problems))


def download_file(uri: str, destination: Path, endpoint_url: str | None = None) -> Path:
    """Copy the single file at `uri` to the path `destination`; returns `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    location = _parse(uri)
    if isinstance(location, Path):
        if not location.is_file():
            raise StorageError(f"downloading {uri} failed: no such file")
        shutil.copyfile(location, destination)
        return destination
    if not location.prefix:
        raise ValueError(f"{uri!r}: names a bucket, not an object")
    with _s3_errors("downloading", uri):
        _s3_client(endpoint_url).download_file(location.bucket, location.prefix, str(destination))
    return destination


def delete_prefix(uri: str, endpoint_url: str | None = None) -> None:
    """Remove everything under `uri`. Nothing there, or no such bucket, is not an error."""
    location = _parse(uri)
    if isinstance(location, Path):
        if location.is_dir():
            shutil.rmtree(location)
        elif location.exists():
            location.unlink()
        return
    client = _s3_client(endpoint_url)
    try:
        keys = list(_s3_keys(client, location, uri).values())
    except StorageError as error:
        if error.code == "NoSuchBucket":
            return
        raise
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        with _s3_errors("deleting", uri):
            response = client.delete_objects(Bucket=location.bucket, Delete={"Objects": batch, "Quiet": True})
        if response.get("Errors"):
            failed = ", ".join(f"{e['Key']} ({e['Code']})" for e in response["Errors"])
            raise StorageError(f"deleting {uri} failed for: {failed}")


def list_prefixes(uri: str, endpoint_url: str | None = None) -> list[str]:
    """Names of the folders (S3: common prefixes) directly under `uri`, sorted; [] when there is nothing."""
    location = _parse(uri)
    if isinstance(location, Path):
        return sorted(path.name for path in location.iterdir() if path.is_dir()) if location.is_dir() else []
    client = _s3_client(endpoint_url)
    prefix = f"{location.prefix}/" if location.prefix else ""
    names = []
    with _s3_errors("listing", uri):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            names += [item["Prefix"][len(prefix) :].rstrip("/") for item in page.get("CommonPrefixes", [])]
    return sorted(names)
