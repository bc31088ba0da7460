"""The validation report of an image column (issue 27): its images' sizes and channels, and thumbnails."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as Pillow

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec, Keep
from components.validate.images import THUMBNAILS
from components.validate.task import validate_data
from pipelines.images import png_bytes

DIGITS = get_spec("digits")
# Images up to twice the spec's 8x8 pass validation.
SPEC = replace(DIGITS, min_rows=1, features=(replace(DIGITS.features[0], max_scale=2.0),))


class _Page(HTMLParser):
    """The page's img tags and table rows (the text of each cell)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 8x8 grey digits and two 16x16 ones, named relative to the index."""
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    rows = []
    for number, side in enumerate([8] * 8 + [16] * 2):
        (folder / f"{number}.png").write_bytes(png_bytes(rng.integers(0, 256, (side, side), dtype=np.uint8)))
        rows.append(f"{number}.png,{number % 10}\n")
    path = folder / "index.csv"
    path.write_text("image,digit\n" + "".join(rows))
    return path


def _validate(index: Path, spec: DatasetSpec, name: str) -> tuple[_Page, dict]:
    report, summary = index.parent / f"{name}.html", index.parent / f"{name}.json"
    validate_data(index, spec, report, summary)
    page = _Page()
    page.feed(report.read_text(encoding="utf-8"))
    page.close()
    return page, json.loads(summary.read_text(encoding="utf-8"))


def test_the_report_shows_the_sizes_channels_and_thumbnails_of_the_images(index: Path) -> None:
    page, summary = _validate(index, SPEC, "report")
    (images,) = summary["images"]
    assert (images["column"], images["checked"], images["bad"]) == ("image", 10, 0)
    assert images["sizes"] == [[8, 8, 8], [16, 16, 2]] and images["channels"] == [[1, 10]]
    assert ["8 x 8", "8"] in page.rows and ["16 x 16", "2"] in page.rows and ["1", "10"] in page.rows
    assert len(page.images) == THUMBNAILS
    for number, tag in enumerate(page.images):
        assert tag["alt"] == f"{number}.png"
        prefix, _, data = str(tag["src"]).partition(",")
        assert prefix == "data:image/png;base64"
        with Pillow.open(io.BytesIO(base64.b64decode(data))) as thumbnail:
            original = Pillow.open(index.parent / f"{number}.png")
            assert thumbnail.format == "PNG" and thumbnail.size == original.size
            assert np.array_equal(np.asarray(thumbnail), np.asarray(original))


def test_a_sensitive_image_column_shows_its_sizes_but_no_thumbnail(index: Path) -> None:
    page, summary = _validate(index, replace(SPEC, sensitive={"image": Keep(reason="faces")}), "sensitive")
    assert summary["images"][0]["thumbnails"] == [] and page.images == []
    assert ["8 x 8", "8"] in page.rows
