"""A file's content digest: what validate records and transform checks, so both read the same bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ContentDigest:
    """What pins a file's content: its SHA-256 and size in bytes."""

    sha256: str
    size: int

    @classmethod
    def of_stream(cls, stream: IO[bytes]) -> ContentDigest:
        digest, size = hashlib.sha256(), 0
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return cls(digest.hexdigest(), size)


class ContentChangedError(RuntimeError):
    """A file's bytes differ from those an earlier step checked; the message names the file and both digests."""
