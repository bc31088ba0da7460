"""Images (issue 27): references read by the one reader, the role's graph, and validation of the images."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as Pillow

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec, Image, SpecError
from components.data.images import resolve_reference
from components.data.reader import read_frame
from components.data.sources import resolve_source
from components.data.values import RawDataError
from components.validate.images import check_images
from components.validate.task import DataValidationError, validate_data
from pipelines.images import png_bytes

DIGITS = get_spec("digits")
GREY = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4  # 0..252, every pixel different


def _spec(**image: object) -> DatasetSpec:
    return replace(DIGITS, min_rows=1, features=(replace(DIGITS.features[0], **image),))


def _index(folder: Path, rows: list[tuple[str, str]], name: str = "index.csv") -> Path:
    path = folder / name
    path.write_text("image,digit\n" + "".join(f"{image},{digit}\n" for image, digit in rows))
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 8x8 grey PNGs: two named relative to the index, one by its absolute path."""
    folder = tmp_path_factory.mktemp("good")
    (folder / "img").mkdir()
    for number in range(3):
        (folder / "img" / f"{number}.png").write_bytes(png_bytes(np.roll(GREY, number)))
    return _index(folder, [("img/0.png", "0"), ("img/1.png", "1"), (str(folder / "img" / "2.png"), "2")])


def test_image_role_refuses_impossible_fields() -> None:
    with pytest.raises(SpecError, match=r"Image\('image'\).*height and width must be at least 1"):
        Image("image", height=0, width=8)
    with pytest.raises(SpecError, match=r"Image\('image'\).channels: expected one of 1, 3, got 2"):
        Image("image", height=8, width=8, channels=2)
    with pytest.raises(SpecError, match="max_bad_fraction must be in"):
        Image("image", height=8, width=8, max_bad_fraction=1.0)


def test_references_resolve_relative_to_the_data_file() -> None:
    assert resolve_reference("img/a.png", "/data/x/index.csv") == "/data/x/img/a.png"
    assert resolve_reference("../a.png", "file:///data/x/index.csv") == "/data/a.png"
    assert resolve_reference("/abs/a.png", "s3://bucket/x/index.csv") == "/abs/a.png"
    assert resolve_reference("img/a.png", "s3://bucket/x/index.csv") == "s3://bucket/x/img/a.png"
    assert resolve_reference("s3://other/a.png", "/data/index.csv") == "s3://other/a.png"


def test_the_reader_hands_on_the_encoded_bytes(good: Path) -> None:
    frame = read_frame(resolve_source(str(good)), DIGITS)
    assert [bytes(data) for data in frame["image"]] == [
        (good.parent / "img" / f"{number}.png").read_bytes() for number in range(3)
    ]
    references = read_frame(resolve_source(str(good)), DIGITS)  # the same read twice: the same bytes
    assert frame["image"].tolist() == references["image"].tolist()


def test_the_reader_refuses_a_missing_image_naming_line_and_reference(tmp_path: Path) -> None:
    index = _index(tmp_path, [("a.png", "1"), ("gone.png", "2")])
    (tmp_path / "a.png").write_bytes(png_bytes(GREY))
    with pytest.raises(RawDataError, match=r"index.csv: line 3: column 'image': image 'gone.png' .*cannot be read"):
        read_frame(resolve_source(str(index)), DIGITS)


def test_with_a_tolerated_share_an_unreadable_image_is_missing(tmp_path: Path) -> None:
    index = _index(tmp_path, [("a.png", "1"), ("gone.png", "2")])
    (tmp_path / "a.png").write_bytes(png_bytes(GREY))
    frame = read_frame(resolve_source(str(index)), _spec(max_bad_fraction=0.5))
    assert frame["image"].iloc[0] == png_bytes(GREY) and frame["image"].iloc[1] is None


def test_s3_references_are_read_through_beams_file_systems(s3_endpoint: str, tmp_path: Path) -> None:
    from components.common.s3_client import s3_client

    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="images")
    client.put_object(Bucket="images", Key="d/img/0.png", Body=png_bytes(GREY))
    client.put_object(Bucket="images", Key="d/index.csv", Body=b"image,digit\nimg/0.png,0\ns3://images/d/img/0.png,1\n")
    source = resolve_source("s3://images/d/index.csv", endpoint_url=s3_endpoint)
    frame = read_frame(source, DIGITS)
    assert frame["image"].tolist() == [png_bytes(GREY)] * 2


def _bad_images(folder: Path) -> Path:
    """Row by row (lines 2-6): a good image, a missing file, a truncated PNG, text named .png, a 16x16 image."""
    (folder / "good.png").write_bytes(png_bytes(GREY))
    (folder / "cut.png").write_bytes(png_bytes(GREY)[:40])
    (folder / "text.png").write_text("not an image\n")
    (folder / "big.png").write_bytes(png_bytes(np.zeros((16, 16), np.uint8)))
    rows = [("good.png", "0"), ("missing.png", "1"), ("cut.png", "2"), ("text.png", "3"), ("big.png", "4")]
    return _index(folder, rows)


def test_validation_names_each_bad_image_by_line_and_file(tmp_path: Path) -> None:
    index = _bad_images(tmp_path)
    (check,) = check_images(resolve_source(str(index)), _spec(max_bad_fraction=0.9))
    assert check.checked == 5 and check.passed and len(check.bad) == 4
    missing, cut, text, big = check.bad
    assert missing.startswith(f"{index}: line 3: image 'missing.png' not found ({tmp_path / 'missing.png'})")
    assert cut.startswith(f"{index}: line 4: image 'cut.png' ({tmp_path / 'cut.png'}) does not decode")
    assert text.startswith(f"{index}: line 5: image 'text.png' ({tmp_path / 'text.png'}) does not decode")
    assert big == (
        f"{index}: line 6: image 'big.png' ({tmp_path / 'big.png'}) is 16x16 (height x width); expected 8..8 x 8..8 "
        "(the spec's height and width times min_scale..max_scale)"
    )
    assert dict(check.sizes) == {(8, 8): 1}
    (wider,) = check_images(resolve_source(str(index)), _spec(max_scale=2.0, max_bad_fraction=0.9))
    assert len(wider.bad) == 3 and dict(wider.sizes) == {(8, 8): 1, (16, 16): 1}


def test_validation_refuses_wrong_channels(tmp_path: Path) -> None:
    rgb = io.BytesIO()
    Pillow.fromarray(np.zeros((8, 8, 3), np.uint8)).save(rgb, format="JPEG")
    (tmp_path / "rgb.jpg").write_bytes(rgb.getvalue())
    (check,) = check_images(resolve_source(str(_index(tmp_path, [("rgb.jpg", "0")]))), DIGITS)
    assert not check.passed and check.bad[0].endswith("has 3 channel(s); expected 1")
    (colour,) = check_images(resolve_source(str(tmp_path / "index.csv")), _spec(channels=3))
    assert colour.passed and colour.bad == []


def test_validate_refuses_bad_images_beyond_the_tolerated_share(tmp_path: Path) -> None:
    index = _bad_images(tmp_path)
    with pytest.raises(DataValidationError) as refused:
        validate_data(index, _spec(max_bad_fraction=0.5), tmp_path / "report.html", tmp_path / "summary.json")
    message = str(refused.value)
    assert "column 'image': 4 of 5 images are bad (max_bad_fraction 0.5)" in message
    assert f"{index}: line 3: image 'missing.png' not found ({tmp_path / 'missing.png'})" in message
    summary = validate_data(index, _spec(max_bad_fraction=0.8), tmp_path / "report.html", tmp_path / "summary.json")
    assert summary.success


def test_the_role_graph_decodes_resizes_and_scales(tmp_path: Path) -> None:
    import tensorflow as tf

    from components.transform.roles.image import decode_images

    feature = DIGITS.features[0]
    jpeg = io.BytesIO()
    Pillow.fromarray(np.full((8, 8), 255, np.uint8)).save(jpeg, format="JPEG", quality=100)
    big = png_bytes(np.kron(GREY, np.ones((2, 2), np.uint8)))  # 16x16, each pixel of GREY as a 2x2 square
    rgb = png_bytes(np.stack([GREY] * 3, axis=-1))
    pixels = decode_images(tf.constant([png_bytes(GREY), b"", jpeg.getvalue(), big, rgb]), feature).numpy()
    assert pixels.shape == (5, 8, 8, 1) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[0, :, :, 0], GREY / 255.0, atol=1e-6)
    assert not pixels[1].any()  # a missing image is blank
    np.testing.assert_allclose(pixels[2], 1.0, atol=2 / 255)
    np.testing.assert_allclose(pixels[3, :, :, 0], GREY / 255.0, atol=1e-5)  # resized back to 8x8
    np.testing.assert_allclose(pixels[4, :, :, 0], GREY / 255.0, atol=1 / 255)  # RGB to grey
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_images(tf.constant([b"not an image"]), feature)


def test_every_built_in_builder_takes_an_image_feature_through_the_conv_tower() -> None:
    import keras

    from components.common.feature_info import TransformedFeature
    from components.tasks import task_of
    from components.train.builders import build_checked
    from components.train.hyperparameters import Hyperparameters

    task, hyperparameters = task_of(DIGITS), Hyperparameters(hidden_units=(16,))
    image = TransformedFeature("image_pixels", "image", "float32", dims=(8, 8, 1))
    assert image.shape == (8, 8, 1)
    for builder in ("cnn", "mlp", "wide_and_deep"):
        model = build_checked(builder, [image], task, hyperparameters)
        convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        assert [layer.name for layer in convolutions] == ["image_pixels_conv0_1", "image_pixels_conv0_2"], builder


def test_base64_json_reaches_the_graph_as_the_same_bytes() -> None:
    """The signature declares the image column binary: MLflow's JSON parsing decodes base64 into the PNG's
    bytes, the pyfunc hands them to the graph as they are, and the graph reads the pixels."""
    import tensorflow as tf
    from mlflow.utils.proto_json_utils import dataframe_from_parsed_json

    from components.train.mlflow_model import _tensor, input_schema, spec_inputs
    from components.transform.roles.image import decode_images

    assert spec_inputs(DIGITS) == [("image", "binary")]
    records = [{"image": base64.b64encode(png_bytes(GREY)).decode("ascii")}]
    frame = dataframe_from_parsed_json(records, "records", input_schema(spec_inputs(DIGITS)))
    assert frame["image"].tolist() == [png_bytes(GREY)]
    pixels = decode_images(_tensor("image", frame["image"], tf.string, frozenset()), DIGITS.features[0])
    np.testing.assert_allclose(pixels.numpy()[0, :, :, 0], GREY / 255.0, atol=1e-6)


def test_the_report_shows_the_most_confidently_misclassified_images() -> None:
    import tensorflow as tf

    from components.evaluate.worst_images import worst_misclassified

    images = [png_bytes(np.roll(GREY, shift)) for shift in range(4)]
    dense = {"image": tf.constant(images), "digit": tf.constant(["1", "2", "3", "4"])}
    targets = np.array([1, 2, 3, 4])
    predictions = np.full((4, 10), 0.01)
    predictions[0, 1] = predictions[1, 7] = predictions[2, 5] = predictions[3, 4] = 0.9
    predictions[2, 5] = 0.6  # rows 1 and 2 are wrong; row 1 more confidently
    section = worst_misclassified(DIGITS, dense, targets, predictions)
    assert "2 of 4 eval images misclassified" in section
    first, second = section.index("true 2, predicted 7 (0.90)"), section.index("true 3, predicted 5 (0.60)")
    assert first < second and section.count("<img") == 2
    assert base64.b64encode(images[1]).decode("ascii") in section
    assert worst_misclassified(get_spec("penguins"), dense, targets, predictions) == ""


def test_the_request_log_keeps_an_image_base64_encoded(tmp_path: Path) -> None:
    from components.serve.local import RequestLog
    from components.train.mlflow_model import input_schema, spec_inputs

    encoded = base64.b64encode(png_bytes(GREY)).decode("ascii")
    log = RequestLog(str(tmp_path / "requests.jsonl"), input_schema(spec_inputs(DIGITS)))
    log.write(json.dumps({"dataframe_records": [{"image": encoded}]}).encode())
    (line,) = (tmp_path / "requests.jsonl").read_text().splitlines()
    assert json.loads(line)["image"] == encoded
