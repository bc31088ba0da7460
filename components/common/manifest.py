"""Checksums of a folder and its `MANIFEST.sha256`.

An uploaded directory gets a `MANIFEST.sha256` beside its files, in `sha256sum` format, so that
anyone can check a copy without this project. It is written after every file, so a prefix without
it is an unfinished upload.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Mapping

from components.common.store_location import ChecksumMismatchError, below

MANIFEST_NAME = "MANIFEST.sha256"
_CHUNK = 1 << 20


def sha256_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def local_files(root: Path) -> dict[str, Path]:
    return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*")) if path.is_file()}


def manifest_text(checksums: Mapping[str, str]) -> str:
    """The manifest's content: `<sha256>  <relative path>` per line, sorted by path."""
    return "".join(f"{checksums[name]}  {name}\n" for name in sorted(checksums))


def manifest_digest(checksums: Mapping[str, str]) -> str:
    """The SHA-256 of the manifest written for these checksums: one value that pins every file."""
    return hashlib.sha256(manifest_text(checksums).encode()).hexdigest()


def dir_checksums(local_dir: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `local_dir`, as `upload_dir` records them."""
    checksums = {}
    for name, path in local_files(local_dir).items():
        with path.open("rb") as stream:
            checksums[name] = sha256_of(stream)
    return checksums


def check_against_manifest(directory: Path, manifest: Path, source_uri: str) -> None:
    problems = []
    for line in manifest.read_text().splitlines():
        checksum, name = line.split("  ", 1)
        path = directory / below(name, f"{source_uri}/{MANIFEST_NAME}")
        if not path.is_file():
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        with path.open("rb") as stream:
            if sha256_of(stream) != checksum:
                problems.append(f"{name}: sha256 differs from the manifest")
    if problems:
        raise ChecksumMismatchError(f"download of {source_uri} failed verification:\n  " + "\n  ".join(problems))
