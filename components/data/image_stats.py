"""Per-image statistics: what the training baseline and the drift check profile for an `Image` column.

A reference (a path or URI) says nothing about the picture, so an image column is profiled as numbers
computed from each image: its mean intensity per channel (0..255, after conversion to the spec's
channels, as the transform graph decodes it), its width and height as stored, and whether it failed to
be read or decoded (1, else 0; null where the reference is missing). Each is one numeric column named
`<column>.<statistic>`, so the drift check compares it, reports it and alerts on it as any numeric feature.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Iterator

import numpy as np
import pandas as pd
from PIL import Image as Pillow
from PIL import UnidentifiedImageError

from components.common.specs.base import DatasetSpec, Image
from components.data.images import image_features, read_image_bytes, resolve_reference
from components.data.reader import read_batches, to_frame
from components.data.sources import DataSource

CHANNEL_NAMES = {1: ("intensity",), 3: ("red", "green", "blue")}
DECODE_FAILED = "decode_failed"


def statistic_columns(feature: Image) -> list[str]:
    """The numeric columns that stand for the image column, in order."""
    means = [f"{feature.column}.mean_{name}" for name in CHANNEL_NAMES[feature.channels]]
    return [*means, f"{feature.column}.width", f"{feature.column}.height", f"{feature.column}.{DECODE_FAILED}"]


def image_statistics(data: bytes | None, feature: Image) -> list[float]:
    """One image's statistics (`statistic_columns` order); NaN but decode_failed=1 for bytes that do not
    decode (None: could not be read)."""
    failed = [np.nan] * (feature.channels + 2) + [1.0]
    if data is None:
        return failed
    try:
        with Pillow.open(io.BytesIO(data)) as image:
            width, height = image.size
            pixels = np.asarray(image.convert("L" if feature.channels == 1 else "RGB"), dtype=np.float64)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Pillow.DecompressionBombError):
        return failed
    means = pixels.reshape(-1, feature.channels).mean(axis=0) if pixels.size else np.zeros(feature.channels)
    return [*means.tolist(), float(width), float(height), 0.0]


def with_image_statistics(
    frame: pd.DataFrame, spec: DatasetSpec, data_uri: str, endpoint_url: str = "", base64_text: bool = False
) -> pd.DataFrame:
    """The frame with each image column of the spec it holds replaced by that column's statistics.

    A value is a reference resolved against `data_uri` (the file that holds the row), the image's bytes
    (a Parquet binary column), or with `base64_text` the image base64-encoded (logged serving requests).
    """
    for name, feature in image_features(spec).items():
        if name not in frame.columns:
            continue
        rows = [_statistics(value, feature, data_uri, endpoint_url, base64_text) for value in frame[name]]
        columns = statistic_columns(feature)
        values = pd.DataFrame(rows, index=frame.index, columns=columns, dtype="float64")
        at = frame.columns.get_loc(name)
        frame = pd.concat([frame.iloc[:, :at], values, frame.iloc[:, at + 1 :]], axis=1)
    return frame


def statistic_frames(source: DataSource, spec: DatasetSpec, batch_rows: int) -> Iterator[pd.DataFrame]:
    """The one reader's frames with image columns as their statistics (each batch knows its file)."""
    for batch in read_batches(source, spec, batch_rows=batch_rows, image_bytes=False):
        yield with_image_statistics(to_frame(batch), spec, batch.file.uri, source.endpoint_url)


def _statistics(value: object, feature: Image, data_uri: str, endpoint_url: str, base64_text: bool) -> list[float]:
    empty = isinstance(value, (bytes, bytearray, memoryview)) and not len(value)  # as the one reader reads it
    if value is None or empty or (isinstance(value, float) and value != value):
        return [np.nan] * (feature.channels + 3)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return image_statistics(bytes(value), feature)
    if base64_text:
        try:
            return image_statistics(base64.b64decode(str(value), validate=True), feature)
        except (binascii.Error, ValueError):
            return image_statistics(None, feature)
    try:
        data = read_image_bytes(resolve_reference(str(value), data_uri), endpoint_url)
    except OSError:
        data = None
    return image_statistics(data, feature)
