"""Multiclass classification: a softmax over the spec's classes, in their declared order; log loss is the headline.

Serving answers `probabilities` ([batch, classes], in the spec's order) and `class` (the most probable
class's name).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from components.tasks.base import Check, Task, UnscorableOutputError, compare, majority_class_line
from components.tasks.multiclass_metrics import MulticlassMetrics, multiclass_metrics

PROBABILITIES = "probabilities"
CLASS = "class"
# How far a row's probabilities may sum from 1 (float32 softmax) before the output is refused.
SUM_TOLERANCE = 1e-3


class MulticlassTask(Task):
    kind = "multiclass"
    model_noun = "classifier"
    headline_metric = "log_loss"
    directions = {"log_loss": False, "accuracy": True, "macro_f1": True, "weighted_f1": True}
    champion_metrics = ("log_loss", "accuracy")
    variant_metric, variant_tolerance = "accuracy", 0.005
    early_stopping_monitor = "val_loss"
    early_stopping_maximise = False
    label_dtype = "int64"
    output_activation = "softmax"
    serving_output_names = (PROBABILITIES, CLASS)
    prior_name = "class frequencies"
    table_metrics = ("log_loss", "accuracy", "macro_f1")

    def __init__(self, classes: tuple[str, ...]) -> None:
        self.classes = tuple(classes)
        self._ids = {name: index for index, name in enumerate(self.classes)}

    @property
    def output_width(self) -> int:
        return len(self.classes)

    def encode_label(self, derived):
        """The class's index in the spec's list; -1 for anything else (validation refuses such rows)."""
        import tensorflow as tf

        matches = tf.equal(tf.expand_dims(derived, 1), tf.constant(self.classes)[tf.newaxis, :])
        found = tf.reduce_any(matches, axis=1)
        return tf.where(found, tf.argmax(tf.cast(matches, tf.int64), axis=1), tf.constant(-1, tf.int64))

    def output_layer(self, name: str = "output"):
        import keras

        return keras.layers.Dense(len(self.classes), activation="softmax", dtype="float32", name=name)

    def loss(self):
        import keras

        return keras.losses.SparseCategoricalCrossentropy()

    def soft_targets(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(len(self.classes), dtype=np.float32)[np.asarray(labels, dtype=np.int64).reshape(-1)]

    def distillation_loss(self):
        import keras

        return keras.losses.CategoricalCrossentropy()

    def keras_metrics(self):
        import keras

        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def serving_outputs(self, model_output):
        import tensorflow as tf

        best = tf.argmax(model_output, axis=1)
        return {PROBABILITIES: model_output, CLASS: tf.gather(tf.constant(self.classes), best)}

    def predictions(self, outputs: Mapping[str, Any], rows: int) -> np.ndarray:
        if PROBABILITIES not in outputs:
            raise UnscorableOutputError(f"its signature answers {sorted(outputs)}, not {PROBABILITIES!r}")
        probabilities = np.asarray(outputs[PROBABILITIES], dtype=np.float64)
        expected = (rows, len(self.classes))
        if probabilities.shape != expected:
            raise UnscorableOutputError(f"it gave probabilities of shape {probabilities.shape}, expected {expected}")
        sums = probabilities.sum(axis=1)
        if np.any(probabilities < 0) or np.any(np.abs(sums - 1) > SUM_TOLERANCE):
            raise UnscorableOutputError("its probabilities are negative or do not sum to 1 per row")
        return probabilities / sums[:, None]

    def targets(self, derived: Any) -> np.ndarray:
        names = [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in np.asarray(derived)]
        unknown = sorted(set(names) - set(self._ids))
        if unknown:
            raise ValueError(f"label value(s) {unknown[:5]} are not among the spec's classes {list(self.classes)}")
        return np.array([self._ids[name] for name in names], dtype=np.int64)

    def metrics(self, targets: np.ndarray, predictions: np.ndarray) -> MulticlassMetrics:
        return multiclass_metrics(targets, predictions, self.classes)

    def prior_predictions(self, targets: np.ndarray) -> np.ndarray:
        frequencies = np.bincount(targets, minlength=len(self.classes)) / targets.size
        return np.tile(frequencies, (targets.size, 1))

    def baseline_checks(self, candidate: MulticlassMetrics, prior: MulticlassMetrics, margin: float) -> list[Check]:
        """Log loss a fraction `margin` below predicting the rows' class frequencies."""
        return [
            compare(
                "log_loss",
                candidate.log_loss,
                False,
                prior.log_loss * (1 - margin),
                f"class-frequency log loss {prior.log_loss:.4f} x (1 - margin {margin:g})",
            )
        ]

    def info_lines(self, candidate: MulticlassMetrics, prior: MulticlassMetrics) -> list[str]:
        return [majority_class_line(candidate.accuracy, prior.accuracy)]

    def describe(self, label_name: str, label_description: str) -> str:
        return (
            f"multiclass classification of {label_name} ({label_description}) into "
            f"{len(self.classes)} classes: {', '.join(self.classes)}"
        )

    def figures(self, metrics: MulticlassMetrics, targets: np.ndarray, predictions: np.ndarray):
        from components.tasks import figures

        return {"confusion_matrix": figures.confusion_figure(metrics.confusion_matrix, self.classes)}

    def log_kfp_metrics(self, metrics: MulticlassMetrics, classification_metrics) -> None:
        classification_metrics.log_confusion_matrix(list(self.classes), metrics.confusion_matrix)
