"""Binary classification: P(positive) from one sigmoid unit; ROC AUC is the headline metric."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from components.evaluate.metrics import BinaryMetrics, binary_metrics
from components.tasks.base import Check, Task, UnscorableOutputError, compare

PROBABILITY = "probability"


class BinaryTask(Task):
    kind = "binary"
    headline_metric = "roc_auc"
    directions = {"roc_auc": True, "accuracy": True, "precision": True, "recall": True, "log_loss": False}
    early_stopping_monitor = "val_auc"
    early_stopping_maximise = True
    label_dtype = "int64"
    output_width = 1
    output_activation = "sigmoid"
    serving_output_names = (PROBABILITY,)

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

    def champion_checks(
        self, candidate: BinaryMetrics, champion: BinaryMetrics, tolerance: float, label: str
    ) -> list[Check]:
        auc_bound = None if champion.roc_auc is None else champion.roc_auc - tolerance
        return [
            compare("roc_auc", candidate.roc_auc, True, auc_bound, f"{label} roc_auc {_fmt(champion.roc_auc)} - {tolerance:g}"),
            compare(
                "log_loss",
                candidate.log_loss,
                False,
                champion.log_loss + tolerance,
                f"{label} log_loss {champion.log_loss:.4f} + {tolerance:g}",
            ),
        ]


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"
