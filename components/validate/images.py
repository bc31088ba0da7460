"""Validation of the images an `Image` feature's column names, not just of the column's text.

Each reference must name a file that exists and decodes as PNG or JPEG, with the spec's channels and
sides within `min_scale`..`max_scale` times its height and width. A bad image is named by the data
file's line (Parquet: row), the reference and what was wrong; validation fails when more than the
feature's `max_bad_fraction` of the rows with a reference are bad. Decoded with Pillow, which reads
every PNG and JPEG TensorFlow's decoder does.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field

from PIL import Image as Pillow
from PIL import UnidentifiedImageError

from components.common.specs.base import DatasetSpec, Image
from components.data.images import image_features, read_image_bytes, resolve_reference
from components.data.reader import read_batches
from components.data.sources import DataSource

FORMATS = ("PNG", "JPEG")
# Pillow's modes -> the channels TensorFlow's decoder finds in them.
MODE_CHANNELS = {"1": 1, "L": 1, "I;16": 1, "LA": 2, "P": 3, "RGB": 3, "YCbCr": 3, "RGBA": 4, "CMYK": 4}
SHOWN = 5  # bad images a refusal names


@dataclass
class ImageCheck:
    """One image column's outcome: how many references were checked, the bad ones, the sizes found."""

    feature: Image
    checked: int = 0
    bad: list[str] = field(default_factory=list)
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)

    @property
    def passed(self) -> bool:
        return len(self.bad) <= self.feature.max_bad_fraction * self.checked

    def failure(self) -> str:
        """The refusal, one line: how many were bad, against what share, and the first few named."""
        shown = "; ".join(self.bad[:SHOWN]) + ("; ..." if len(self.bad) > SHOWN else "")
        return (
            f"column {self.feature.column!r}: {len(self.bad)} of {self.checked} images are bad "
            f"(max_bad_fraction {self.feature.max_bad_fraction}): {shown}"
        )


def image_problem(data: bytes, feature: Image) -> str | None:
    """What is wrong with one encoded image for this feature, or None."""
    try:
        with Pillow.open(io.BytesIO(data)) as image:
            kind, mode, (width, height) = image.format, image.mode, image.size
            image.load()  # a truncated file fails here, not at open
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        return f"does not decode as an image ({error})"
    if kind not in FORMATS:
        return f"is {kind}; expected one of {list(FORMATS)}"
    channels = MODE_CHANNELS.get(mode)
    if channels != feature.channels:
        return f"has {channels or mode} channel(s); expected {feature.channels}"
    low_h, high_h = feature.min_scale * feature.height, feature.max_scale * feature.height
    low_w, high_w = feature.min_scale * feature.width, feature.max_scale * feature.width
    if not (low_h <= height <= high_h and low_w <= width <= high_w):
        return (
            f"is {height}x{width} (height x width); expected {low_h:g}..{high_h:g} x {low_w:g}..{high_w:g} "
            "(the spec's height and width times min_scale..max_scale)"
        )
    return None


def check_images(source: DataSource, spec: DatasetSpec) -> list[ImageCheck]:
    """Every image column's references, read and decoded one by one (an empty list: the spec has none)."""
    features = image_features(spec)
    if not features:
        return []
    checks = {name: ImageCheck(feature) for name, feature in features.items()}
    for batch in read_batches(source, spec, list(features), image_bytes=False):
        kind = "row" if source.format == "parquet" else "line"
        for name, check in checks.items():
            for index, reference in enumerate(batch.table.column(name).to_pylist()):
                if reference is None:
                    continue  # a missing reference is the column's null, checked by max_null_fraction
                check.checked += 1
                problem, size = _check_one(reference, batch.file.uri, check.feature, source.endpoint_url)
                if problem is not None:
                    where = f"{batch.file.uri}: {kind} {batch.first_line + index}"
                    check.bad.append(f"{where}: image {reference!r} {problem}")
                elif size is not None:
                    check.sizes[size] += 1
    return list(checks.values())


def _check_one(
    reference: str, data_uri: str, feature: Image, endpoint_url: str
) -> tuple[str | None, tuple[int, int] | None]:
    uri = resolve_reference(reference, data_uri)
    try:
        data = read_image_bytes(uri, endpoint_url)
    except FileNotFoundError:
        return f"not found ({uri})", None
    except OSError as error:
        return f"cannot be read ({uri}: {error.strerror or error})", None
    problem = image_problem(data, feature)
    if problem is not None:
        return f"({uri}) {problem}", None
    with Pillow.open(io.BytesIO(data)) as image:
        return None, (image.height, image.width)
