"""Validation of the images an `Image` feature's column names, not just of the column's text.

Each reference must name a file that exists and decodes as PNG or JPEG, with the spec's channels and
sides within `min_scale`..`max_scale` times its height and width. A bad image is named by the data
file's line (Parquet: row), the reference and what was wrong; validation fails when more than the
feature's `max_bad_fraction` of the rows with a reference are bad. Decoded with Pillow, which reads
every PNG and JPEG TensorFlow's decoder does. The good images' sizes and channels, and the first few as
thumbnails, go to the validation report (`image_summaries`).
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from dataclasses import dataclass, field

from PIL import Image as Pillow
from PIL import UnidentifiedImageError

from components.common.specs.base import DatasetSpec, Image
from components.data.images import image_features, read_image_bytes, resolve_reference
from components.data.reader import read_batches
from components.data.sources import DataSource
from components.validate.report import ImageSummary

FORMATS = ("PNG", "JPEG")
# Pillow's modes -> the channels TensorFlow's decoder finds in them.
MODE_CHANNELS = {"1": 1, "L": 1, "I;16": 1, "LA": 2, "P": 3, "RGB": 3, "YCbCr": 3, "RGBA": 4, "CMYK": 4}
SHOWN = 5  # bad images a refusal names
THUMBNAILS = 6  # good images the report shows
THUMBNAIL_SIDE = 64  # a larger image is shrunk to fit this many pixels a side


@dataclass
class ImageCheck:
    """One image column's outcome: how many references were checked, the bad ones, the sizes found."""

    feature: Image
    checked: int = 0
    bad: list[str] = field(default_factory=list)
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    channels: Counter[int] = field(default_factory=Counter)
    thumbnails: list[tuple[str, str]] = field(default_factory=list)  # (reference, base64 PNG)

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

    def add_good(self, reference: str, data: bytes) -> None:
        """Count a good image's size and channels; keep it as a thumbnail while fewer than `THUMBNAILS` are."""
        with Pillow.open(io.BytesIO(data)) as image:
            self.sizes[(image.height, image.width)] += 1
            self.channels[MODE_CHANNELS[image.mode]] += 1
            if len(self.thumbnails) < THUMBNAILS:
                self.thumbnails.append((reference, _thumbnail(image, self.feature.channels)))


def image_problem(data: bytes, feature: Image) -> str | None:
    """What is wrong with one encoded image for this feature, or None."""
    try:
        with Pillow.open(io.BytesIO(data)) as image:
            kind, mode, (width, height) = image.format, image.mode, image.size
            image.load()  # a truncated file fails here, not at open
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Pillow.DecompressionBombError) as error:
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
                problem, data = _check_one(reference, batch.file.uri, check.feature, source.endpoint_url)
                if problem is not None:
                    where = f"{batch.file.uri}: {kind} {batch.first_line + index}"
                    check.bad.append(f"{where}: image {reference!r} {problem}")
                else:
                    check.add_good(reference, data)
    return list(checks.values())


def image_summaries(checks: list[ImageCheck], spec: DatasetSpec) -> list[ImageSummary]:
    """What the report shows of each image column; no thumbnail of a column declared sensitive."""
    return [
        ImageSummary(
            column=check.feature.column,
            checked=check.checked,
            bad=len(check.bad),
            sizes=[[height, width, count] for (height, width), count in check.sizes.most_common()],
            channels=[[channels, count] for channels, count in sorted(check.channels.items())],
            thumbnails=[] if check.feature.column in spec.sensitive_columns else [list(t) for t in check.thumbnails],
        )
        for check in checks
    ]


def _thumbnail(image: Pillow.Image, channels: int) -> str:
    """The image as the model sees its channels, shrunk to `THUMBNAIL_SIDE`, as base64 PNG."""
    small = image.convert("L" if channels == 1 else "RGB")
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _check_one(reference: str, data_uri: str, feature: Image, endpoint_url: str) -> tuple[str | None, bytes]:
    """What is wrong with the referenced image (None: nothing), and its bytes."""
    uri = resolve_reference(reference, data_uri)
    try:
        data = read_image_bytes(uri, endpoint_url)
    except FileNotFoundError:
        return f"not found ({uri})", b""
    except OSError as error:
        return f"cannot be read ({uri}: {error.strerror or error})", b""
    problem = image_problem(data, feature)
    return (None if problem is None else f"({uri}) {problem}"), data
