"""Images indexed in Parquet (issue 27): a column of references, or a binary column holding the encoded
images themselves, read by the one reader as the CSV index's images are, validated and transformed alike."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from sklearn.datasets import load_digits

from components.common.specs import get_spec
from components.data.images import embedded_references, read_image_bytes
from components.data.reader import read_frame
from components.data.sources import resolve_source
from components.evaluate.eval_rows import read_eval_columns
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.task import run_transform
from components.validate.images import check_images
from components.validate.task import validate_data
from pipelines.images import DIGITS_LEVELS, png_bytes

DIGITS = replace(get_spec("digits"), min_rows=10)
ROWS = 60


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """60 digits as PNG files named by a CSV index and a Parquet index, and held in a Parquet binary column."""
    root = tmp_path_factory.mktemp("parquet_images")
    (root / "img").mkdir()
    digits = load_digits()
    references, labels, images = [], [], []
    for number in range(ROWS):
        data = png_bytes(np.round(digits.images[number] * 255.0 / DIGITS_LEVELS).astype(np.uint8))
        (root / "img" / f"{number:02d}.png").write_bytes(data)
        references.append(f"img/{number:02d}.png")
        labels.append(str(digits.target[number]))
        images.append(data)
    (root / "index.csv").write_text("image,digit\n" + "".join(f"{r},{d}\n" for r, d in zip(references, labels)))
    pq.write_table(pa.table({"image": references, "digit": labels}), root / "index.parquet")
    pq.write_table(pa.table({"image": pa.array(images, pa.binary()), "digit": labels}), root / "embedded.parquet")
    return {"csv": root / "index.csv", "references": root / "index.parquet", "embedded": root / "embedded.parquet"}


def test_the_reader_hands_on_the_same_bytes_from_either_index_or_the_binary_column(indexes) -> None:
    frames = {name: read_frame(resolve_source(str(path)), DIGITS) for name, path in indexes.items()}
    expected = [(indexes["csv"].parent / "img" / f"{number:02d}.png").read_bytes() for number in range(ROWS)]
    for name, frame in frames.items():
        assert [bytes(data) for data in frame["image"]] == expected, name
        assert frame["digit"].tolist() == frames["csv"]["digit"].tolist(), name


def test_an_embedded_image_is_a_data_uri_and_an_empty_one_is_missing() -> None:
    png = png_bytes(np.zeros((8, 8), np.uint8))
    references = embedded_references(pa.array([png, b"", None], pa.binary())).to_pylist()
    assert references[0].startswith("data:image/png;base64,") and references[1:] == [None, None]
    assert read_image_bytes(references[0]) == png
    with pytest.raises(OSError, match="not valid base64"):
        read_image_bytes("data:image/png;base64,@@@")


def test_validation_reaches_the_same_result_from_csv_and_parquet(indexes, tmp_path: Path) -> None:
    checks = {name: check_images(resolve_source(str(path)), DIGITS)[0] for name, path in indexes.items()}
    assert {name: (check.checked, check.bad, dict(check.sizes)) for name, check in checks.items()} == {
        name: (ROWS, [], {(8, 8): ROWS}) for name in indexes
    }
    for name, path in indexes.items():
        assert validate_data(path, DIGITS, tmp_path / f"{name}.html", tmp_path / f"{name}.json").success, name
    good = indexes["csv"].parent.joinpath("img", "00.png").read_bytes()
    cut = pa.table({"image": pa.array([good, good[:40]], pa.binary()), "digit": ["0", "1"]})
    pq.write_table(cut, tmp_path / "cut.parquet")
    (check,) = check_images(resolve_source(str(tmp_path / "cut.parquet")), DIGITS)
    assert check.checked == 2 and len(check.bad) == 1
    assert check.bad[0].startswith(f"{tmp_path / 'cut.parquet'}: row 2: image 'data:image/png;base64,")
    assert "does not decode" in check.bad[0]


def _examples(root: Path, data: Path) -> tuple[list[tuple[bytes, int]], dict[str, tf.Tensor]]:
    """Every split's transformed (pixels, label) rows, sorted, and evaluate's reading of the eval rows."""
    run_transform(str(data), DIGITS, root / "graph", root / "examples", root / "eval.csv")
    feature_spec = tft.TFTransformOutput(str(root / "graph")).transformed_feature_spec()
    rows = []
    for split in (TRAIN, VALIDATION, EVAL):
        files = sorted(str(path) for path in (root / "examples").glob(f"{split}-*"))
        records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
        parsed = tf.io.parse_example(records, feature_spec)
        rows += zip(
            (pixels.tobytes() for pixels in parsed["image_pixels"].numpy()), parsed["digit_id"].numpy().tolist()
        )
    return sorted(rows), read_eval_columns(root / "eval.csv", DIGITS)


@pytest.mark.slow
def test_the_transform_makes_the_same_features_from_the_csv_index_and_the_binary_column(indexes, tmp_path) -> None:
    from_csv, csv_eval = _examples(tmp_path / "csv", indexes["csv"])
    from_parquet, parquet_eval = _examples(tmp_path / "parquet", indexes["embedded"])
    assert len(from_csv) == ROWS and from_parquet == from_csv
    images = {bytes(image) for image in read_frame(resolve_source(str(indexes["csv"])), DIGITS)["image"]}
    for eval_columns in (csv_eval, parquet_eval):  # the eval copy names the images (data: URIs for embedded)
        assert 0 < len(eval_columns["image"].numpy()) < ROWS
        assert set(eval_columns["image"].numpy().tolist()) <= images
