"""The eval images a classifier got most confidently wrong, shown in the evaluation report (issue 27).

For each image column of the spec, the misclassified eval rows whose wrong class had the highest
probability, as the encoded images themselves with their true and predicted class. Regression, and a
spec without an image column, show nothing.
"""

from __future__ import annotations

import base64
import html
from typing import Mapping

import numpy as np
import tensorflow as tf

from components.common.specs.base import DatasetSpec, Image, Multiclass, Regression

SHOWN = 8
PNG_SIGNATURE = b"\x89PNG"


def worst_misclassified(
    spec: DatasetSpec, dense: Mapping[str, tf.Tensor], targets: np.ndarray, predictions: np.ndarray, shown: int = SHOWN
) -> str:
    """An HTML section: per image column, up to `shown` misclassified images, most confident first."""
    images = [feature.column for feature in spec.features if isinstance(feature, Image)]
    if not images or isinstance(spec.task, Regression):
        return ""
    probabilities = np.asarray(predictions, dtype=np.float64)
    if probabilities.ndim == 1:  # binary: the positive class's probability
        probabilities = np.stack([1.0 - probabilities, probabilities], axis=1)
    names = spec.task.classes if isinstance(spec.task, Multiclass) else ("0", "1")
    truth = np.asarray(targets).reshape(-1).astype(np.int64)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    worst = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:shown]
    sections = []
    for column in images:
        encoded = dense[column].numpy()
        figures = "".join(
            _figure(encoded[row], names[truth[row]], names[predicted[row]], probabilities[row, predicted[row]])
            for row in worst
        )
        sections.append(
            f"<h2>Worst misclassified images: {html.escape(column)}</h2><p>{len(wrong)} of {truth.size} eval "
            f"images misclassified; the {len(worst)} most confidently wrong:</p>{figures or '<p>none</p>'}"
        )
    return "".join(sections)


def _figure(data: bytes, true: str, predicted: str, probability: float) -> str:
    kind = "png" if data.startswith(PNG_SIGNATURE) else "jpeg"
    source = f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"
    caption = f"true {html.escape(true)}, predicted {html.escape(predicted)} ({probability:.2f})"
    return (
        "<figure style='display:inline-block;margin:4px'>"
        f"<img src='{source}' alt='{caption}' style='width:64px;image-rendering:pixelated'/>"
        f"<figcaption>{caption}</figcaption></figure>"
    )
