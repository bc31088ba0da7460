"""The convolutional tower every built-in builder puts an image feature through (kind `image`).

Blocks of two 3x3 convolutions and a 2x2 max pool, the filters doubling from 32 (to at most 128), until
the smaller side is at most 4 pixels; then the maps are flattened (or averaged, when more than 4x4
remain). Small enough to train on CPUs in minutes: 8x8 digits take one block.
"""

from __future__ import annotations

import keras

FIRST_FILTERS, MOST_FILTERS, SMALLEST_SIDE = 32, 128, 4


def conv_tower(image: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """[batch, height, width, channels] pixels in [0, 1] -> [batch, width] features."""
    height, width = int(image.shape[1]), int(image.shape[2])
    value, filters, block = image, FIRST_FILTERS, 0
    while block == 0 or min(height, width) > SMALLEST_SIDE:
        for layer in (1, 2):
            value = keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"{name}_conv{block}_{layer}"
            )(value)
        if min(height, width) >= 2:
            value = keras.layers.MaxPooling2D(2, name=f"{name}_pool{block}")(value)
            height, width = height // 2, width // 2
        filters, block = min(filters * 2, MOST_FILTERS), block + 1
    if height * width > SMALLEST_SIDE * SMALLEST_SIDE:
        return keras.layers.GlobalAveragePooling2D(name=f"{name}_average")(value)
    return keras.layers.Flatten(name=f"{name}_flat")(value)
