"""Importance of an image column (issue 27): the loss when every image is replaced by a blank one."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf

from components.common.specs import get_spec
from components.data.images import blank_image
from components.evaluate.importance import ImportanceSettings, permutation_importance
from components.tasks import task_of
from components.transform.roles.image import decode_images
from components.validate.images import image_problem
from pipelines.images import png_bytes

DIGITS = get_spec("digits")
IMAGE = DIGITS.features[0]
TASK = task_of(DIGITS)


def test_an_image_column_is_scored_once_with_a_blank_image_of_the_specs_size() -> None:
    rng = np.random.default_rng(0)
    bright = [png_bytes(rng.integers(150, 256, (8, 8), dtype=np.uint8)) for _ in range(20)]
    dark = [png_bytes(rng.integers(0, 40, (8, 8), dtype=np.uint8)) for _ in range(20)]
    dense = {"image": tf.constant(bright + dark), "digit": tf.constant(["1"] * 20 + ["0"] * 20)}
    targets = np.array([1] * 20 + [0] * 20)
    seen: list[list[bytes]] = []

    def score(columns: Mapping[str, tf.Tensor]) -> np.ndarray:
        """A model that calls a bright image 1 and a dark one 0, through the transform graph's decoding."""
        seen.append(columns["image"].numpy().tolist())
        brightness = tf.reduce_mean(decode_images(columns["image"], IMAGE), axis=[1, 2, 3]).numpy()
        probabilities = np.full((brightness.size, 10), 0.01)
        probabilities[:, 1] += 0.9 * brightness
        probabilities[:, 0] += 0.9 * (1.0 - brightness)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    blank = blank_image(IMAGE)
    importance = permutation_importance(score, dense, targets, ["image"], TASK, blanks={"image": blank})
    assert len(seen) == 2  # the candidate, then the blank: no shuffles of references
    assert seen[1] == [blank] * 40
    image = importance["image"]
    assert image.metric == "log_loss" and image.mean > 0.5  # a model of bright and dark loses half its rows
    assert image.ci_low == image.mean == image.ci_high
    assert image_problem(blank, IMAGE) is None  # of the spec's size and channels
    assert not decode_images(tf.constant([blank]), IMAGE).numpy().any()  # all zero once decoded

    twice = ImportanceSettings(repeats=2)
    shuffled = permutation_importance(score, dense, targets, ["image"], TASK, twice)  # without blanks: shuffles
    assert len(seen) == 2 + 1 + 2 and shuffled["image"].ci_low < shuffled["image"].ci_high
