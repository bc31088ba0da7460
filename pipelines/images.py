"""Bundled image datasets written as files: PNG images plus a CSV index (the image's path, its label).

An image dataset's raw column holds a reference to an encoded image, not the pixels (docs/images.md);
writing the bundled ones the same way lets `make run DATASET=digits` read them as any team's data.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

# scikit-learn's digits are 0..16 grey levels; PNG stores 0..255.
DIGITS_LEVELS = 16


def png_bytes(pixels: np.ndarray) -> bytes:
    """A uint8 [height, width] (grey) or [height, width, 3] (RGB) array as PNG bytes, the same bytes every time."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def write_digits(index: Path) -> Path:
    """scikit-learn's 1,797 digits as `<index's folder>/<index's stem>/NNNN.png`, and the index (image, digit).

    The paths in the index are relative to it, so the folder can move (or be copied to S3) as a whole.
    """
    digits = load_digits()
    folder = index.parent / index.stem
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, (image, label) in enumerate(zip(digits.images, digits.target)):
        pixels = np.round(image * 255.0 / DIGITS_LEVELS).astype(np.uint8)
        path = folder / f"{number:04d}.png"
        path.write_bytes(png_bytes(pixels))
        rows.append((path.relative_to(index.parent).as_posix(), str(int(label))))
    partial = index.with_suffix(".part")
    with partial.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("image", "digit"))
        writer.writerows(rows)
    partial.rename(index)
    return index
