"""A convolutional tower started from weights a spec names (`Image.weights_uri`): loaded by layer name,
refused naming the URI when the file is missing or shaped for another tower."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from components.common.feature_info import TransformedFeature
from components.common.specs import get_spec
from components.common.specs.base import Image, SpecError
from components.tasks import task_of
from components.train.builders import BuilderError, build_checked
from components.train.builders.convolution import save_tower, tower_model
from components.train.hyperparameters import Hyperparameters

DIGITS = get_spec("digits")
TASK, HYPERPARAMETERS = task_of(DIGITS), Hyperparameters(hidden_units=(16,))
IMAGE = TransformedFeature("image_pixels", "image", "float32", dims=(8, 8, 1))


def _convolutions(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}


@pytest.fixture(scope="module")
def trained_tower(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """A cnn fitted for one epoch on 48 digits, its tower saved as a weights file."""
    digits = load_digits()
    pixels = (digits.images[:48] / 16.0).astype(np.float32)[..., None]
    model = build_checked("cnn", [IMAGE], TASK, HYPERPARAMETERS)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=TASK.loss())
    model.fit({IMAGE.name: pixels}, digits.target[:48], epochs=1, batch_size=16, verbose=0)
    path = save_tower(model, IMAGE, tmp_path_factory.mktemp("tower") / "image_pixels.weights.h5")
    return path, _convolutions(model)


def test_a_tower_built_with_weights_uri_starts_from_the_saved_weights(trained_tower) -> None:
    path, trained = trained_tower
    fresh = _convolutions(build_checked("cnn", [IMAGE], TASK, HYPERPARAMETERS))
    loaded = _convolutions(build_checked("cnn", [replace(IMAGE, weights_uri=str(path))], TASK, HYPERPARAMETERS))
    assert sorted(loaded) == ["image_pixels_conv0_1", "image_pixels_conv0_2"]
    for name, weights in trained.items():
        for got, saved, random in zip(loaded[name], weights, fresh[name]):
            np.testing.assert_array_equal(got, saved)
            assert not np.array_equal(got, random) or not random.any()  # not what a fresh build starts from


def test_a_missing_weights_file_is_refused_naming_the_uri(tmp_path: Path) -> None:
    missing = tmp_path / "gone.weights.h5"
    with pytest.raises(BuilderError, match=rf"image feature 'image_pixels': weights_uri {missing}: cannot be read"):
        build_checked("cnn", [replace(IMAGE, weights_uri=str(missing))], TASK, HYPERPARAMETERS)


def test_weights_of_another_towers_shape_are_refused_naming_the_uri(trained_tower, tmp_path: Path) -> None:
    path, _ = trained_tower
    colour = replace(IMAGE, dims=(8, 8, 3), weights_uri=str(path))  # the file's first kernel takes 1 channel
    with pytest.raises(BuilderError, match=rf"weights_uri {path}: not the weights of a tower for \(8, 8, 3\)"):
        build_checked("cnn", [colour], TASK, HYPERPARAMETERS)
    deeper = tmp_path / "deeper.weights.h5"
    tower_model((16, 16, 1), IMAGE.name).save_weights(str(deeper))  # two blocks where 8x8 has one
    with pytest.raises(BuilderError, match=rf"weights_uri {deeper}: not the weights of a tower for \(8, 8, 1\)"):
        build_checked("cnn", [replace(IMAGE, weights_uri=str(deeper))], TASK, HYPERPARAMETERS)
    text = tmp_path / "text.weights.h5"
    text.write_text("not HDF5\n")
    with pytest.raises(BuilderError, match=rf"weights_uri {text}: not the weights of a tower"):
        build_checked("cnn", [replace(IMAGE, weights_uri=str(text))], TASK, HYPERPARAMETERS)


def test_the_image_role_passes_weights_uri_to_the_builder_and_checks_its_suffix() -> None:
    from components.transform.roles.image import ImageTransform

    image = Image("image", height=8, width=8, weights_uri="s3://models/digits/image_towers/image_pixels.weights.h5")
    (described,) = ImageTransform().describe(image, None)
    assert described.weights_uri == image.weights_uri and described.shape == (8, 8, 1)
    (plain,) = ImageTransform().describe(Image("image", height=8, width=8), None)
    assert plain.weights_uri is None
    with pytest.raises(SpecError, match=r"Image\('image'\): weights_uri must name a Keras .weights.h5 file"):
        Image("image", height=8, width=8, weights_uri="tower.h5")
