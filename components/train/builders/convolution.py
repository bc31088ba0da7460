"""The convolutional tower every built-in builder puts an image feature through (kind `image`).

Blocks of two 3x3 convolutions and a 2x2 max pool, the filters doubling from 32 (to at most 128), until
the smaller side is at most 4 pixels; then the maps are flattened (or averaged, when more than 4x4
remain). Small enough to train on CPUs in minutes: 8x8 digits take one block.

Pretrained weights cannot be downloaded at run time, so a tower may start from a `.weights.h5` file the
spec names (`Image.weights_uri`, a path or s3:// URI): every export of a model with an image feature
holds its towers' weights under `image_towers/` (`save_towers`), which a later spec can name. The file
is the tower alone as a Keras model (`tower_model`); its convolutions are matched to the model's by
layer name. A file that is missing, unreadable or shaped for another tower is refused naming the URI.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from components.common import storage
from components.common.feature_info import TransformedFeature
from components.train.builders import BuilderError

FIRST_FILTERS, MOST_FILTERS, SMALLEST_SIDE = 32, 128, 4
TOWERS_DIR = "image_towers"


def conv_tower(image: keras.KerasTensor, name: str, weights_uri: str | None = None) -> keras.KerasTensor:
    """[batch, height, width, channels] pixels in [0, 1] -> [batch, width] features; with `weights_uri`,
    the convolutions start from that file's weights."""
    start = tower_weights(weights_uri, name, tuple(image.shape[1:])) if weights_uri else {}
    height, width = int(image.shape[1]), int(image.shape[2])
    value, filters, block = image, FIRST_FILTERS, 0
    while block == 0 or min(height, width) > SMALLEST_SIDE:
        for layer in (1, 2):
            convolution = keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"{name}_conv{block}_{layer}"
            )
            value = convolution(value)
            if start:
                convolution.set_weights(start[convolution.name])
        if min(height, width) >= 2:
            value = keras.layers.MaxPooling2D(2, name=f"{name}_pool{block}")(value)
            height, width = height // 2, width // 2
        filters, block = min(filters * 2, MOST_FILTERS), block + 1
    if height * width > SMALLEST_SIDE * SMALLEST_SIDE:
        return keras.layers.GlobalAveragePooling2D(name=f"{name}_average")(value)
    return keras.layers.Flatten(name=f"{name}_flat")(value)


def tower_model(dims: tuple[int, ...], name: str) -> keras.Model:
    """The tower of an image feature `name` of per-example shape `dims`, alone: what a weights file holds."""
    image = keras.Input(shape=dims, name=name)
    return keras.Model(image, conv_tower(image, name), name=f"{name}_tower")


def _convolutions(model: keras.Model) -> list[keras.layers.Conv2D]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def tower_weights(weights_uri: str, name: str, dims: tuple[int, ...]) -> dict[str, list[np.ndarray]]:
    """Layer name -> weights of the tower file at `weights_uri`, checked against a tower of `dims`."""
    where = f"image feature {name!r}: weights_uri {weights_uri}"
    tower = tower_model(dims, name)
    with tempfile.TemporaryDirectory(prefix="tower-") as scratch:
        local = Path(scratch) / "tower.weights.h5"
        try:
            storage.download_file(weights_uri, local)
        except (storage.StorageError, ValueError) as error:
            raise BuilderError(f"{where}: cannot be read: {error}") from None
        expected = Path(scratch) / "expected.weights.h5"
        tower.save_weights(str(expected))
        try:
            found = _layout(local)
            if found != _layout(expected):  # Keras would load a deeper tower's first blocks and only warn
                differ = sorted(set(found.items()) ^ set(_layout(expected).items()))[:2]
                raise ValueError(f"its variables differ from the tower's (first: {differ})")
            tower.load_weights(str(local))
        except Exception as error:  # noqa: BLE001 - h5py, Keras and shape errors alike mean "not this tower's"
            raise BuilderError(
                f"{where}: not the weights of a tower for {dims} (height, width, channels) images: "
                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            ) from None
    return {layer.name: layer.get_weights() for layer in _convolutions(tower)}


def _layout(path: Path) -> dict[str, tuple[int, ...]]:
    """Every variable a Keras weights file holds: its path in the file -> its shape."""
    import h5py

    shapes: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda key, item: shapes.update({key: item.shape}) if isinstance(item, h5py.Dataset) else None)
    return shapes


def save_tower(model: keras.Model, feature: TransformedFeature, path: Path) -> Path:
    """The trained tower of image `feature` in `model`, as a weights file a spec's `weights_uri` can name."""
    tower = tower_model(feature.shape, feature.name)
    for layer in _convolutions(tower):
        layer.set_weights(model.get_layer(layer.name).get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    tower.save_weights(str(path))
    return path


def save_towers(model: keras.Model, features: Sequence[TransformedFeature], export_dir: Path) -> None:
    """Each image feature's tower, when the model has it (a user's builder may not), under `image_towers/`."""
    names = {layer.name for layer in model.layers}
    for feature in features:
        if feature.kind == "image" and f"{feature.name}_conv0_1" in names:
            save_tower(model, feature, export_dir / TOWERS_DIR / f"{feature.name}.weights.h5")
