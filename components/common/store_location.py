"""Where a store is (a path, a file:// URI or s3://bucket/prefix) and the names below it.

A name below a prefix (an S3 key less its prefix, a file below an uploaded folder) is normalised
before it addresses anything: empty and "." segments dropped; one that would leave its prefix (an
absolute key, a ".." segment) is refused, so a listed key can never write outside a download folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse


class StorageError(RuntimeError):
    """A store could not be read or written; the message names the URI and the cause.

    `code` is S3's error code (NoSuchBucket, AccessDenied, 404...) when S3 gave one.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ChecksumMismatchError(StorageError):
    """What a store holds differs from what was written to it."""


def below(name: str, where: str) -> str:
    """`name` normalised, or StorageError naming `where` when it leaves the prefix it was found under."""
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise StorageError(f"{where}: key {name!r} leaves its prefix (an absolute key or a '..' segment)")
    return "/".join(part for part in parts if part not in ("", "."))


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # normalised (see `below`); empty for the bucket's root

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative


def parse(uri: str) -> S3Location | Path:
    """The S3 location or local path a URI names; ValueError for another scheme or a prefix with ".."."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{uri!r}: an s3:// URI needs a bucket name")
        try:
            return S3Location(parsed.netloc, below(parsed.path.lstrip("/"), uri))
        except StorageError as error:
            raise ValueError(str(error)) from None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if "://" in uri:
        raise ValueError(f"{uri!r}: unsupported scheme {parsed.scheme!r}; use a path, file:// or s3://")
    return Path(uri)
