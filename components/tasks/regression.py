"""Regression: one linear unit; RMSE on the original scale is the headline metric.

With `log_target` the model learns log1p of the target and serving answers expm1 of its output, so
predictions, metrics and the gate are all on the original scale. Either way, train puts a fixed
affine layer after the builder's model (the train split's mean and standard deviation of what it
learns), so a builder's output starts near zero whatever the target's scale.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from components.tasks.base import Check, Task, UnscorableOutputError, compare
from components.tasks.regression_metrics import RegressionMetrics, regression_metrics

PREDICTION = "prediction"


class RegressionTask(Task):
    kind = "regression"
    model_noun = "regressor"
    headline_metric = "rmse"
    variant_metric, variant_tolerance, variant_tolerance_relative = "rmse", 0.01, True
    directions = {"rmse": False, "mae": False, "r2": True}
    early_stopping_monitor = "val_loss"
    early_stopping_maximise = False
    label_dtype = "float32"
    output_width = 1
    output_activation = "linear"
    serving_output_names = (PREDICTION,)
    prior_name = "mean of the targets"
    table_metrics = ("rmse", "mae", "r2")

    def __init__(self, log_target: bool) -> None:
        self.log_target = log_target

    def encode_label(self, derived):
        import tensorflow as tf

        value = tf.cast(derived, tf.float32)
        return tf.math.log1p(tf.maximum(value, 0.0)) if self.log_target else value

    def output_layer(self, name: str = "output"):
        import keras

        return keras.layers.Dense(1, dtype="float32", name=name)

    def loss(self):
        import keras

        return keras.losses.MeanSquaredError()

    def keras_metrics(self):
        import keras

        return [keras.metrics.RootMeanSquaredError(name="rmse")]

    def output_scale(self, train_labels: np.ndarray) -> tuple[float, float]:
        """(mean, standard deviation) of the learned label on the train split: the fixed affine layer's."""
        spread = float(np.std(train_labels))
        return float(np.mean(train_labels)), spread if spread > 0 else 1.0

    def serving_outputs(self, model_output):
        import tensorflow as tf

        value = tf.reshape(model_output, [-1])
        return {PREDICTION: tf.math.expm1(value) if self.log_target else value}

    def predictions(self, outputs: Mapping[str, Any], rows: int) -> np.ndarray:
        if PREDICTION not in outputs:
            raise UnscorableOutputError(f"its signature answers {sorted(outputs)}, not {PREDICTION!r}")
        values = np.asarray(outputs[PREDICTION], dtype=np.float64).reshape(-1)
        if values.shape != (rows,) or not np.all(np.isfinite(values)):
            raise UnscorableOutputError(f"it gave {values.shape[0]} predictions for {rows} rows, or some not finite")
        return values

    def targets(self, derived: Any) -> np.ndarray:
        values = np.asarray(derived, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("some regression targets are missing or not finite")
        return values

    def metrics(self, targets: np.ndarray, predictions: np.ndarray) -> RegressionMetrics:
        return regression_metrics(targets, predictions)

    def prior_predictions(self, targets: np.ndarray) -> np.ndarray:
        """The rows' own mean: the lowest RMSE any constant reaches on them (stricter than the train mean)."""
        return np.full(targets.shape, float(np.mean(targets)))

    def baseline_checks(self, candidate: RegressionMetrics, prior: RegressionMetrics, margin: float) -> list[Check]:
        return [
            compare(
                "rmse",
                candidate.rmse,
                False,
                prior.rmse * (1 - margin),
                f"mean predictor rmse {prior.rmse:.4g} x (1 - margin {margin:g})",
            )
        ]

    def champion_checks(
        self, candidate: RegressionMetrics, champion: RegressionMetrics, tolerance: float, label: str
    ) -> list[Check]:
        """RMSE is in the target's units, so the tolerance is relative: at most `tolerance` x the champion's."""
        return [
            compare(
                "rmse",
                candidate.rmse,
                False,
                champion.rmse * (1 + tolerance),
                f"{label} rmse {champion.rmse:.4g} x (1 + {tolerance:g})",
            )
        ]

    def describe(self, label_name: str, label_description: str) -> str:
        scale = ", learned as log1p and reported on the original scale" if self.log_target else ""
        return f"regression of {label_name} ({label_description}){scale}"

    def figures(self, metrics: RegressionMetrics, targets: np.ndarray, predictions: np.ndarray):
        from components.tasks import figures

        return {"residuals": figures.residual_figure(targets, predictions, metrics.rmse)}

    def log_kfp_metrics(self, metrics: RegressionMetrics, classification_metrics) -> None:
        """Nothing: ClassificationMetrics holds ROC curves and confusion matrices; the scalars go to Metrics."""
