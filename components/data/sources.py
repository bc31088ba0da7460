"""Which raw files a DATA_URI names, and the manifest that pins them.

A DATA_URI is a file, a folder or prefix (every .csv, .csv.gz and .parquet under it, recursively), a glob
(`*`, `?`, `[...]`), or a span pattern (components/data/spans.py); a local path, file:// or s3://. All
files of one source share one format. The manifest (each file's URI, size and SHA-256) is what validate
logs as the data's digest and what later steps check before and after they read.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Iterator

from components.common.content import ContentChangedError, ContentDigest
from components.common.store_location import S3Location, parse
from components.data.values import RawDataError

FORMATS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet"}
_WILDCARDS = "*?["
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    uri: str
    size: int
    sha256: str
    span: str | None = None

    @property
    def gzipped(self) -> bool:
        return self.uri.lower().endswith(".gz")


@dataclass(frozen=True)
class DataSource:
    """The files one run reads, in order; `endpoint_url` (S3's, empty for AWS) is how, not what."""

    data_uri: str
    format: str  # "csv" | "parquet"
    files: tuple[SourceFile, ...]
    spans: tuple[str, ...] = ()  # the spans read, oldest first (empty: no span pattern)
    missing_spans: tuple[str, ...] = ()
    endpoint_url: str = field(default="", compare=False)

    def manifest_lines(self) -> list[str]:
        """`uri<TAB>size<TAB>sha256` per file, sorted."""
        return sorted(f"{file.uri}\t{file.size}\t{file.sha256}" for file in self.files)

    def digest(self) -> ContentDigest:
        """The SHA-256 of the manifest and the bytes of all files: what pins the data a run read."""
        text = "".join(f"{line}\n" for line in self.manifest_lines()).encode("utf-8")
        return ContentDigest(hashlib.sha256(text).hexdigest(), sum(file.size for file in self.files))


def file_format(uri: str) -> str | None:
    """ "csv" or "parquet" by the name's ending; None for any other file."""
    lowered = uri.lower()
    return next((kind for ending, kind in FORMATS.items() if lowered.endswith(ending)), None)


def resolve_source(
    data_uri: str,
    *,
    window: int | None = None,
    at: date | None = None,
    allow_missing_spans: bool = False,
    endpoint_url: str = "",
) -> DataSource:
    """The files `data_uri` names, each with its size and SHA-256; RawDataError when there are none or formats mix."""
    from components.data import spans

    if spans.is_span_pattern(data_uri):
        found, missing = spans.resolve_spans(data_uri, window, at, allow_missing_spans, endpoint_url or None)
        files = [
            SourceFile(file.uri, file.size, file.sha256, span)
            for span, uri in found
            for file in _files_at(uri, endpoint_url)
        ]
        return _source(data_uri, files, tuple(span for span, _ in found), tuple(missing), endpoint_url)
    return _source(data_uri, _files_at(data_uri, endpoint_url), (), (), endpoint_url)


def _source(
    data_uri: str, files: list[SourceFile], spans: tuple[str, ...], missing: tuple[str, ...], endpoint_url: str
) -> DataSource:
    if not files:
        raise RawDataError(f"{data_uri}: no data files (expected names ending {', '.join(FORMATS)})")
    formats = {file_format(file.uri) for file in files}
    if len(formats) > 1:
        examples = {file_format(file.uri): file.uri for file in files}
        raise RawDataError(
            f"{data_uri}: mixes formats ({', '.join(f'{kind}: {uri}' for kind, uri in sorted(examples.items()))}); "
            "expected one format per source"
        )
    return DataSource(data_uri, formats.pop() or "csv", tuple(files), spans, missing, endpoint_url)


def _files_at(uri: str, endpoint_url: str) -> list[SourceFile]:
    """The data files at a file, folder/prefix or glob, sorted by URI."""
    location = parse(uri)
    if isinstance(location, Path):
        paths = _local_paths(location, uri)
        return [_local_file(path, str(path) if "://" not in uri else path.as_uri()) for path in paths]
    return _s3_files(location, uri, endpoint_url)


def _local_paths(location: Path, uri: str) -> list[Path]:
    text = str(location)
    if any(char in text for char in _WILDCARDS):
        paths = [Path(name) for name in glob.glob(text, recursive=True)]
        return sorted(path for path in paths if path.is_file() and _is_data(path.name))
    if location.is_file():
        if file_format(location.name) is None:
            raise RawDataError(f"{uri}: not a data file (expected a name ending {', '.join(FORMATS)})")
        return [location]
    if location.is_dir():
        return sorted(path for path in location.rglob("*") if path.is_file() and _is_data(path.name))
    raise RawDataError(f"{uri}: no such file or folder")


def _is_data(name: str) -> bool:
    """A data file by its name; hidden and `_`-prefixed files (`_SUCCESS`, `.part.crc`) are never data."""
    return not name.startswith((".", "_")) and file_format(name) is not None


def _local_file(path: Path, uri: str) -> SourceFile:
    with path.open("rb") as handle:
        digest = ContentDigest.of_stream(handle)
    return SourceFile(uri, digest.size, digest.sha256)


def _s3_files(location: S3Location, uri: str, endpoint_url: str) -> list[SourceFile]:
    from components.common.s3_client import s3_client, s3_errors

    client = s3_client(endpoint_url or None)
    key = location.prefix
    cut = min((key.index(char) for char in _WILDCARDS if char in key), default=-1)
    listed = key[: key.rfind("/", 0, cut) + 1] if cut >= 0 else key
    found: dict[str, int] = {}
    with s3_errors("listing", uri):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=listed):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["Size"]
    if cut >= 0:
        keys = [name for name in found if fnmatch.fnmatchcase(name, key)]
    elif key in found and not key.endswith("/"):
        keys = [key]
        if file_format(key) is None:
            raise RawDataError(f"{uri}: not a data file (expected a name ending {', '.join(FORMATS)})")
    else:
        keys = [name for name in found if name.startswith(f"{key.rstrip('/')}/" if key else "")]
    files = []
    for name in sorted(keys):
        if not _is_data(name.rsplit("/", 1)[-1]):
            continue
        file_uri = f"s3://{location.bucket}/{name}"
        with s3_errors("reading", file_uri):
            body = client.get_object(Bucket=location.bucket, Key=name)["Body"]
            digest = ContentDigest.of_stream(body)
        files.append(SourceFile(file_uri, digest.size, digest.sha256))
    return files


@contextmanager
def local_path(file: SourceFile, endpoint_url: str = "") -> Iterator[Path]:
    """The file on this machine: a local one in place, an S3 object downloaded to a scratch copy for the block."""
    location = parse(file.uri)
    if isinstance(location, Path):
        yield location
        return
    from components.common.s3_client import s3_client, s3_errors

    with tempfile.TemporaryDirectory(prefix="raw-") as scratch:
        target = Path(scratch) / location.prefix.rsplit("/", 1)[-1]
        with s3_errors("downloading", file.uri):
            s3_client(endpoint_url or None).download_file(location.bucket, location.prefix, str(target))
        yield target


@contextmanager
def open_bytes(file: SourceFile, endpoint_url: str = "") -> Iterator[IO[bytes]]:
    """The file's bytes as a stream (a local file, or an S3 object's body); not decompressed."""
    location = parse(file.uri)
    if isinstance(location, Path):
        with location.open("rb") as handle:
            yield handle
        return
    from components.common.s3_client import s3_client, s3_errors

    with s3_errors("reading", file.uri):
        body = s3_client(endpoint_url or None).get_object(Bucket=location.bucket, Key=location.prefix)["Body"]
    with tempfile.SpooledTemporaryFile(max_size=_CHUNK) as spool:
        # botocore's body reads fixed amounts, not lines; a spooled copy gives readline its bounded reads.
        shutil.copyfileobj(body, spool, _CHUNK)
        spool.seek(0)
        yield spool


def check_unchanged(source: DataSource, when: str) -> None:
    """Every file still holds the bytes in the manifest (and, for a file, folder or glob, no file came or went)."""
    current = {file.uri: file for file in _current_files(source)}
    for file in source.files:
        now = current.get(file.uri)
        if now is None:
            raise ContentChangedError(f"{file.uri} is gone since its manifest was taken ({when})")
        if (now.size, now.sha256) != (file.size, file.sha256):
            raise ContentChangedError(
                f"{file.uri} changed since its manifest was taken ({when}): sha256 {file.sha256} "
                f"({file.size} bytes) then, {now.sha256} ({now.size} bytes) now"
            )
    added = sorted(set(current) - {file.uri for file in source.files})
    if added:
        raise ContentChangedError(f"{source.data_uri}: {added[0]} appeared since its manifest was taken ({when})")


def _current_files(source: DataSource) -> list[SourceFile]:
    """The files there now: each span's files again, or whatever the file, folder or glob names now."""
    found: list[SourceFile] = []
    for uri in [file.uri for file in source.files] if source.spans else [source.data_uri]:
        try:
            found += _files_at(uri, source.endpoint_url)
        except RawDataError:
            continue  # gone: named by check_unchanged
    return found
