"""Image references to encoded bytes: how the one reader hands an `Image` feature's column on.

The raw column holds a reference to a PNG or JPEG file: a path relative to the data file that names it,
an absolute path, or an s3:// URI (read through Beam's file systems, so any runner reads it the same
way). The reader replaces each reference by the file's bytes; decoding, resizing and scaling happen in
the transform graph (components/transform/roles/image.py), so the served model takes the same bytes.
A reference that cannot be read is refused naming the data file's line and the reference, unless the
spec tolerates bad images (`Image.max_bad_fraction` > 0): then it is a missing value (a blank image),
and validation (components/validate/images.py) counts it against that share.

A Parquet file may hold the encoded images themselves in a binary column: the reader hands each on as
a `data:` URI (`embedded_references`), a reference like any other that every step reads the same way
and that a CSV copy of the rows (the transform's eval rows) can carry.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import pyarrow as pa

from components.common.specs.base import DatasetSpec, Image
from components.data.values import RawDataError

# An image larger than this is refused before it is read whole (a 4096x4096 RGB PNG is about 50 MB raw).
MAX_IMAGE_BYTES = 32 << 20
DATA_URI = "data:"
# The media type a data: URI names, by the file's first bytes (what decodes it is the bytes, not this).
_MEDIA_TYPES = ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"))


def image_features(spec: DatasetSpec) -> dict[str, Image]:
    """Column name -> the Image feature that reads it."""
    return {feature.column: feature for feature in spec.features if isinstance(feature, Image)}


def resolve_reference(reference: str, data_uri: str) -> str:
    """The absolute path or URI: as it is when absolute, s3:// or data:, else relative to the data file's folder."""
    if "://" in reference or reference.startswith(("/", DATA_URI)):
        return reference.removeprefix("file://")
    if "://" in data_uri and not data_uri.startswith("file://"):
        scheme, _, rest = data_uri.partition("://")
        folder = PurePosixPath(rest).parent
        return f"{scheme}://{PurePosixPath(os.path.normpath(folder / reference))}"
    return str(Path(os.path.normpath(Path(data_uri.removeprefix("file://")).parent / reference)))


def read_image_bytes(uri: str, endpoint_url: str = "") -> bytes:
    """The file's bytes; OSError (FileNotFoundError for a missing one) when it cannot be read."""
    if uri.startswith(DATA_URI):
        return _data_bytes(uri)
    if uri.startswith("s3://"):
        return _read_s3(uri, endpoint_url)
    with open(uri, "rb") as handle:
        data = handle.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise OSError(f"larger than {MAX_IMAGE_BYTES} bytes")
    return data


def _data_bytes(uri: str) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma or not header.endswith(";base64"):
        raise OSError("a data: URI must read data:<media type>;base64,<the image base64-encoded>")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise OSError(f"its data: URI is not valid base64 ({error})") from None


def embedded_references(images: pa.Array) -> pa.Array:
    """A binary column of encoded images as data: URIs (large_string); an empty or null value is missing."""
    references = []
    for data in images.to_pylist():
        if not data:
            references.append(None)
            continue
        media = next((media for magic, media in _MEDIA_TYPES if data.startswith(magic)), "application/octet-stream")
        references.append(f"{DATA_URI}{media};base64,{base64.b64encode(data).decode('ascii')}")
    return pa.array(references, pa.large_string())


def is_binary(kind: pa.DataType) -> bool:
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def absolute_references(spec: DatasetSpec, batch: pa.RecordBatch, data_uri: str) -> pa.RecordBatch:
    """The batch with its image references made absolute: a copy written elsewhere names the same images."""
    images = image_features(spec)
    names = batch.schema.names
    arrays = [
        pa.array([None if ref is None else resolve_reference(ref, data_uri) for ref in column.to_pylist()], column.type)
        if name in images
        else column
        for name, column in zip(names, batch.columns)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _read_s3(uri: str, endpoint_url: str) -> bytes:
    from apache_beam.io.aws.s3filesystem import S3FileSystem
    from apache_beam.options.pipeline_options import PipelineOptions

    endpoint = endpoint_url or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or ""
    options = PipelineOptions([f"--s3_endpoint_url={endpoint}"] if endpoint else [])
    try:
        with S3FileSystem(options).open(uri) as handle:
            data = handle.read(MAX_IMAGE_BYTES + 1)
    except Exception as error:  # Beam wraps S3's errors in its own types; any of them means unreadable
        raise OSError(str(error).splitlines()[0] if str(error) else type(error).__name__) from error
    if len(data) > MAX_IMAGE_BYTES:
        raise OSError(f"larger than {MAX_IMAGE_BYTES} bytes")
    return data


def load_column(
    feature: Image, references: pa.Array, data_uri: str, where: Callable[[int], str], endpoint_url: str = ""
) -> pa.Array:
    """A column of references (null where missing) as the images' bytes (large_binary)."""
    loaded: list[bytes | None] = []
    for index, reference in enumerate(references.to_pylist()):
        if reference is None:
            loaded.append(None)
            continue
        uri = resolve_reference(reference, data_uri)
        try:
            loaded.append(read_image_bytes(uri, endpoint_url))
        except OSError as error:
            if feature.max_bad_fraction > 0:
                loaded.append(None)  # validation counts it against max_bad_fraction
                continue
            raise RawDataError(
                f"{where(index)}: column {feature.column!r}: image {reference!r} ({uri}) cannot be read: "
                f"{error.strerror or error}"
            ) from None
    return pa.array(loaded, pa.large_binary())


def with_image_bytes(
    spec: DatasetSpec,
    names: Sequence[str],
    arrays: list[pa.Array],
    data_uri: str,
    where: Callable[[int], str],
    endpoint_url: str = "",
) -> list[pa.Array]:
    """The batch's columns with every image column's references replaced by the images' bytes."""
    images = image_features(spec)
    return [
        load_column(images[name], array, data_uri, where, endpoint_url) if name in images else array
        for name, array in zip(names, arrays)
    ]


def image_positions(spec: DatasetSpec, header: Sequence[str]) -> list[int]:
    """Where a file's image columns are among its fields (by its header)."""
    images = image_features(spec)
    return [position for position, name in enumerate(header) if name in images]


def absolute_fields(positions: Sequence[int], fields: list[str], data_uri: str, missing: frozenset[str]) -> list[str]:
    """A CSV row's fields with the references at `positions` made absolute (a missing spelling kept): the
    transform's copy of the eval rows, written elsewhere, must still name the same files."""
    for position in positions:
        if fields[position] and fields[position] not in missing:
            fields[position] = resolve_reference(fields[position], data_uri)
    return fields


def blank_image(feature: Image) -> bytes:
    """A black PNG of the feature's size and channels: an input example that any model of it takes."""
    import io

    from PIL import Image as Pillow

    buffer = io.BytesIO()
    mode = "L" if feature.channels == 1 else "RGB"
    Pillow.new(mode, (feature.width, feature.height)).save(buffer, format="PNG")
    return buffer.getvalue()
