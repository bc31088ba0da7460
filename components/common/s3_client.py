"""The one S3 client configuration, its error translation, encryption on write, and prefix listings.

S3 is reached through boto3 at `endpoint_url` when given, else at `MLFLOW_S3_ENDPOINT_URL` or
`AWS_ENDPOINT_URL` (MinIO and other S3-compatible servers), else at AWS. Credentials come only from
boto3's own chain (the environment, a mounted Kubernetes Secret exposed as AWS_* variables or a web
identity token); this module never takes or stores a key.

Every call goes through `S3_CLIENT_SETTINGS`: bounded retries with exponential backoff and jitter
(botocore's "standard" mode retries throttling such as 503 SlowDown, 5xx replies and dropped
connections), and connect/read timeouts, so an S3 outage ends in a StorageError within about a minute
instead of hanging the step. boto3 is imported only here, on an s3:// path.

When `S3_SSE` is set (`AES256` or `aws:kms`, with `S3_SSE_KMS_KEY_ID` optionally naming the key),
every object written asks for that server-side encryption.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

from components.common.store_location import S3Location, StorageError

_HEAD_ERRORS = {"404": "(no such object or bucket)", "403": "(access denied)"}

# The one place S3 retries are decided. 5 attempts in all; "standard" mode waits a random
# 0..2^n seconds (at most 20) between them, so a dead store fails in seconds, a flaky one is ridden out.
S3_MAX_ATTEMPTS = 5
# botocore.config.Config's arguments.
S3_CLIENT_SETTINGS: dict[str, Any] = {
    "retries": {"mode": "standard", "total_max_attempts": S3_MAX_ATTEMPTS},
    "connect_timeout": 5,
    "read_timeout": 60,
}
SSE_VARIABLE = "S3_SSE"
SSE_KMS_KEY_VARIABLE = "S3_SSE_KMS_KEY_ID"
_SSE_MODES = ("AES256", "aws:kms")


def s3_client(endpoint_url: str | None) -> Any:
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
def s3_errors(action: str, uri: str) -> Iterator[None]:
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


def s3_keys(client: Any, location: S3Location, uri: str) -> dict[str, str]:
    """Maps each object's path relative to the prefix (as listed, not yet normalised) to its key."""
    prefix = f"{location.prefix}/" if location.prefix else ""
    keys: dict[str, str] = {}
    with s3_errors("listing", uri):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                keys[item["Key"][len(prefix) :]] = item["Key"]
    return keys


def s3_folders(client: Any, location: S3Location, uri: str) -> list[str]:
    """Names of the common prefixes directly under the location, sorted."""
    prefix = f"{location.prefix}/" if location.prefix else ""
    names = []
    with s3_errors("listing", uri):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            names += [item["Prefix"][len(prefix) :].rstrip("/") for item in page.get("CommonPrefixes", [])]
    return sorted(names)
