"""Binary classification: P(positive) from one sigmoid unit; ROC AUC is the headline metric."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from components.tasks.base import Check, Task, UnscorableOutputError, compare, majority_class_line
from components.tasks.binary_metrics import BinaryMetrics, binary_metrics, roc_auc

PROBABILITY = "probability"
# The confusion matrix's classes: the label's 0 and 1.
CLASS_NAMES = ("0", "1")


class BinaryTask(Task):
    kind = "binary"
    model_noun = "classifier"
    headline_metric = "roc_auc"
    directions = {"roc_auc": True, "accuracy": True, "precision": True, "recall": True, "log_loss": False}
    champion_metrics = ("roc_auc", "log_loss")
    variant_metric, variant_tolerance = "roc_auc", 0.005
    early_stopping_monitor = "val_auc"
    early_stopping_maximise = True
    label_dtype = "int64"
    output_width = 1
    output_activation = "sigmoid"
    serving_output_names = (PROBABILITY,)
    prior_name = "base rate"
    table_metrics = ("roc_auc", "accuracy", "log_loss")
    undefined_headline = "holds one class"

    def encode_label(self, derived):
        import tensorflow as tf

        return tf.cast(derived, tf.int64)

    def output_layer(self, name: str = "output"):
        import keras

        # float32 even under mixed precision, so that probabilities and the loss are exact.
        return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=name)

    def loss(self):
        import keras

        return keras.losses.BinaryCrossentropy()

    def keras_metrics(self):
        import keras

        return [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")]

    def serving_outputs(self, model_output):
        import tensorflow as tf

        return {PROBABILITY: tf.reshape(model_output, [-1])}

    def predictions(self, outputs: Mapping[str, Any], rows: int) -> np.ndarray:
        if PROBABILITY not in outputs:
            raise UnscorableOutputError(f"its signature answers {sorted(outputs)}, not {PROBABILITY!r}")
        probabilities = np.asarray(outputs[PROBABILITY], dtype=np.float64).reshape(-1)
        if probabilities.shape != (rows,) or not np.all((probabilities >= 0) & (probabilities <= 1)):
            raise UnscorableOutputError(
                f"it gave {probabilities.shape[0]} probabilities for {rows} rows, or some outside [0, 1]"
            )
        return probabilities

    def targets(self, derived: Any) -> np.ndarray:
        return np.asarray(derived).astype(np.int64)

    def metrics(self, targets: np.ndarray, predictions: np.ndarray) -> BinaryMetrics:
        return binary_metrics(targets, predictions)

    def headline_score(self, targets: np.ndarray, predictions: np.ndarray) -> float | None:
        return roc_auc(targets, predictions)  # the calibration and the curve would cost 4x for nothing here

    def prior_predictions(self, targets: np.ndarray) -> np.ndarray:
        return np.full(targets.shape, float(np.mean(targets)))

    def baseline_checks(self, candidate: BinaryMetrics, prior: BinaryMetrics, margin: float) -> list[Check]:
        """ROC AUC at least 0.5 + margin; log loss a fraction `margin` below the base rate's."""
        return [
            compare("roc_auc", candidate.roc_auc, True, 0.5 + margin, f"0.5 + {margin:g}"),
            compare(
                "log_loss",
                candidate.log_loss,
                False,
                prior.log_loss * (1 - margin),
                f"base-rate log loss {prior.log_loss:.4f} x (1 - margin {margin:g})",
            ),
        ]

    def info_lines(self, candidate: BinaryMetrics, prior: BinaryMetrics) -> list[str]:
        return [majority_class_line(candidate.accuracy, prior.accuracy)]

    def describe(self, label_name: str, label_description: str) -> str:
        return f"binary classification of {label_name} ({label_description})"

    def figures(self, metrics: BinaryMetrics, targets: np.ndarray, predictions: np.ndarray):
        from components.tasks import figures

        drawn = {
            "confusion_matrix": figures.confusion_figure(metrics.confusion_matrix, CLASS_NAMES),
            "calibration": figures.calibration_figure(metrics.calibration),
        }
        if metrics.roc is not None:
            drawn["roc_curve"] = figures.roc_figure(metrics.roc, metrics.roc_auc)
        return drawn

    def log_kfp_metrics(self, metrics: BinaryMetrics, classification_metrics) -> None:
        if metrics.roc is not None:
            classification_metrics.log_roc_curve(metrics.roc.fpr, metrics.roc.tpr, metrics.roc.thresholds)
        classification_metrics.log_confusion_matrix(list(CLASS_NAMES), metrics.confusion_matrix)
