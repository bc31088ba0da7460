"""Reading the raw CSV in Beam: the header, the three-way split by row hash, the digest check."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Sequence

from apache_beam.io.filesystems import FileSystems

from components.common.content import ContentChangedError, ContentDigest
from components.transform.layout import EVAL, TRAIN, VALIDATION

COUNTER_NAMESPACE = "transform"
_BUCKETS = 10_000


class RawRowError(ValueError):
    """A row the transform cannot read although validation passed (e.g. the file changed since)."""


def split_of(line: str, eval_fraction: float, validation_fraction: float = 0.0) -> str:
    """Deterministic split by a hash of the row's text: the same row always lands in the same split.

    The first `eval_fraction` of hash buckets is the eval split, the next `validation_fraction` the rows
    training holds out for early stopping, the rest trains. No seed and no file order is involved, so
    a rerun on the same bytes splits exactly alike, on any runner and any sharding.
    """
    bucket = int.from_bytes(hashlib.md5(line.encode("utf-8")).digest()[:8], "big") % _BUCKETS
    if bucket < eval_fraction * _BUCKETS:
        return EVAL
    if bucket < (eval_fraction + validation_fraction) * _BUCKETS:
        return VALIDATION
    return TRAIN


def _first_file(data_uri: str) -> str:
    return sorted(FileSystems.match([data_uri])[0].metadata_list, key=lambda m: m.path)[0].path


def read_header(data_uri: str) -> list[str]:
    """Column names from the first line of the (first) input file; a UTF-8 byte-order mark is dropped,
    as validate drops it."""
    with FileSystems.open(_first_file(data_uri)) as handle:
        first_line = handle.readline().decode("utf-8-sig")
    return next(csv.reader([first_line]))


def check_content(data_uri: str, expected: ContentDigest, when: str) -> None:
    """The file must hold exactly the bytes validate passed; raises ContentChangedError otherwise."""
    with FileSystems.open(_first_file(data_uri), compression_type="uncompressed") as handle:
        actual = ContentDigest.of_stream(handle)
    if actual != expected:
        raise ContentChangedError(
            f"{data_uri} changed since validate checked it ({when}): sha256 {actual.sha256} and {actual.size} "
            f"bytes, validate passed sha256 {expected.sha256} and {expected.size} bytes; rerun the pipeline"
        )


def to_csv_line(fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()
