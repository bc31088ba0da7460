"""Drift on images (issue 27): an image column is compared by its images' statistics, not by its references."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image as Pillow

from components.common.specs import get_spec
from components.common.specs.base import Image
from components.data.baseline import Baseline, baseline_from_csv
from components.data.image_stats import image_statistics, statistic_columns
from components.monitor.drift import DriftReport, DriftThresholds, compare
from components.monitor.report import html_report
from components.monitor.task import drift_metric_set, read_new_data
from components.runs import run_metrics
from components.validate.images import image_problem
from pipelines.images import png_bytes, write_digits

DIGITS = get_spec("digits")
ROWS = 300
INTENSITY = "image.mean_intensity"


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first `ROWS` of the digits as written by `make data DATASET=digits`, and a darkened copy (dark.csv)."""
    folder = tmp_path_factory.mktemp("digits")
    full = write_digits(folder / "digits.csv")
    lines = full.read_text().splitlines()[: ROWS + 1]
    index = folder / "train.csv"
    index.write_text("\n".join(lines) + "\n")
    (folder / "dark").mkdir()
    dark_rows = [lines[0]]
    for line in lines[1:]:
        reference, digit = line.split(",")
        with Pillow.open(folder / reference) as image:
            image.point(lambda level: level // 2).save(folder / "dark" / Path(reference).name)
        dark_rows.append(f"dark/{Path(reference).name},{digit}")
    (folder / "dark.csv").write_text("\n".join(dark_rows) + "\n")
    (folder / "next.csv").write_text("\n".join([lines[0], *full.read_text().splitlines()[ROWS + 1 : 2 * ROWS + 1]]))
    return index


@pytest.fixture(scope="module")
def baseline(digits: Path) -> Baseline:
    return baseline_from_csv(digits, DIGITS.name, "training", DIGITS)


def _check(baseline: Baseline, data: Path) -> DriftReport:
    return compare(baseline, read_new_data(data, baseline, str(data)), str(data), DriftThresholds())


def test_the_baseline_profiles_the_images_not_their_references(baseline: Baseline) -> None:
    names = [column.name for column in baseline.columns]
    assert names == [*statistic_columns(DIGITS.features[0]), "digit"]
    assert statistic_columns(DIGITS.features[0]) == [INTENSITY, "image.width", "image.height", "image.decode_failed"]
    intensity = baseline.column(INTENSITY)
    assert (intensity.kind, intensity.role, intensity.count) == ("numeric", "feature", ROWS)
    assert 20 < intensity.numeric.mean < 120  # grey levels 0..255 of a mostly black scan
    width = baseline.column("image.width").numeric
    assert (width.min, width.max) == (8, 8)
    assert baseline.column("image.decode_failed").numeric.max == 0


def test_darkened_images_raise_the_intensity_drift_and_the_same_images_do_not(baseline: Baseline, digits: Path) -> None:
    same = _check(baseline, digits)
    assert not same.drifted, same.verdict()
    assert {feature.name for feature in same.features} >= {INTENSITY, "image.width", "image.height"}
    assert next(f for f in same.features if f.name == INTENSITY).score == 0.0
    following = _check(baseline, digits.parent / "next.csv")  # other scans of the same kind
    assert not following.drifted, following.verdict()
    dark = _check(baseline, digits.parent / "dark.csv")
    assert dark.drifted_features == [INTENSITY], dark.verdict()
    assert next(f for f in dark.features if f.name == INTENSITY).score > 0.5
    assert "verdict: DRIFT (image.mean_intensity)" in dark.verdict()
    # The same alerts as any feature: the Pushgateway figure the drift alert fires on, and the HTML report.
    registry = drift_metric_set(dark, "run").registry
    detected = run_metrics.PREFIX + "drift_feature_detected"
    assert registry.get_sample_value(detected, {"pipeline_run": "run", "feature": INTENSITY}) == 1.0
    assert registry.get_sample_value(detected, {"pipeline_run": "run", "feature": "image.width"}) == 0.0
    assert '<tr class="drift"><td>image.mean_intensity</td>' in html_report(dark)


def test_images_that_do_not_decode_raise_the_decode_failure_drift(baseline: Baseline, digits: Path) -> None:
    folder = digits.parent
    (folder / "note.png").write_text("not an image")
    rows = digits.read_text().splitlines()
    broken = folder / "broken.csv"
    broken.write_text("\n".join([*rows[:-20], *["note.png,1"] * 10, *["gone.png,2"] * 10]) + "\n")
    report = _check(baseline, broken)
    failed = next(f for f in report.features if f.name == "image.decode_failed")
    assert failed.drifted and failed.out_of_range_share == pytest.approx(20 / ROWS)
    assert INTENSITY not in report.drifted_features  # the images that decode are the baseline's


def test_logged_requests_are_profiled_from_their_base64_images(baseline: Baseline, digits: Path) -> None:
    requests = digits.parent / "requests.jsonl"
    lines = digits.read_text().splitlines()[1:]
    encoded = [base64.b64encode((digits.parent / line.split(",")[0]).read_bytes()).decode() for line in lines]
    requests.write_text("".join(json.dumps({"image": value}) + "\n" for value in encoded))
    report = _check(baseline, requests)
    assert not report.drifted, report.verdict()
    assert next(f for f in report.features if f.name == INTENSITY).rows == ROWS


def test_a_parquet_column_of_encoded_images_is_profiled_as_the_files_are(baseline: Baseline, digits: Path) -> None:
    rows = [line.split(",") for line in digits.read_text().splitlines()[1:]]
    images = [(digits.parent / reference).read_bytes() for reference, _ in rows]
    table = pa.table({"image": pa.array([*images, b""], pa.binary()), "digit": [digit for _, digit in rows] + ["1"]})
    path = digits.parent / "embedded.parquet"
    pq.write_table(table, path)
    embedded = baseline_from_csv(path, DIGITS.name, "embedded", DIGITS)
    assert embedded.column(INTENSITY).numeric == baseline.column(INTENSITY).numeric
    assert embedded.column("image.decode_failed").null_fraction == 1 / (ROWS + 1)  # the empty one is missing
    report = _check(baseline, path)
    assert not report.drifted, report.verdict()
    assert next(f for f in report.features if f.name == INTENSITY).score == 0.0


def test_image_statistics_per_channel() -> None:
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 50
    colour = Image("photo", height=4, width=6, channels=3)
    assert statistic_columns(colour)[:3] == ["photo.mean_red", "photo.mean_green", "photo.mean_blue"]
    assert image_statistics(png_bytes(rgb), colour) == [200.0, 0.0, 50.0, 6.0, 4.0, 0.0]
    assert image_statistics(b"text", colour)[-1] == 1.0


def test_an_image_too_large_to_decode_safely_is_a_decode_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow refuses an image of more than twice MAX_IMAGE_PIXELS (a decompression bomb): both checks say so."""
    monkeypatch.setattr(Pillow, "MAX_IMAGE_PIXELS", 16)
    bomb = png_bytes(np.zeros((8, 8), dtype=np.uint8))  # 64 pixels: over 2 x 16
    assert image_statistics(bomb, DIGITS.features[0])[-1] == 1.0
    assert "does not decode as an image" in str(image_problem(bomb, DIGITS.features[0]))
