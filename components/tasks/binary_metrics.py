"""Binary classification metrics, on plain NumPy arrays (the gate is in components.evaluate.gate).

Nothing here knows about TensorFlow, MLflow or files: labels (0/1) and
predicted probabilities in, numbers and a decision out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

DECISION_THRESHOLD = 0.5
CALIBRATION_BINS = 10
MAX_ROC_POINTS = 200


@dataclass(frozen=True)
class Calibration:
    """Expected calibration error over equal-width probability bins, and the reliability curve.

    The curve has one point per non-empty bin: the mean predicted probability
    in the bin against the observed positive rate, with the bin's example count.
    """

    expected_calibration_error: float
    mean_predicted: float
    observed_rate: float
    bin_predicted: list[float]
    bin_observed: list[float]
    bin_count: list[int]


@dataclass(frozen=True)
class RocCurve:
    """ROC points; thresholds are finite (sklearn's leading +inf becomes 1.0)."""

    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]


@dataclass(frozen=True)
class BinaryMetrics:
    """Metrics at `DECISION_THRESHOLD`.

    `roc_auc` and `roc` are None when the examples hold a single class: ROC
    needs both positives and negatives to be defined.
    `confusion_matrix` rows are the true class (0, 1), columns the predicted one.
    """

    example_count: int
    positive_rate: float
    roc_auc: float | None
    accuracy: float
    precision: float
    recall: float
    log_loss: float
    calibration: Calibration
    roc: RocCurve | None
    confusion_matrix: list[list[int]]

    def headline(self) -> dict[str, float]:
        """The scalar metrics, as MLflow and KFP log them (an undefined AUC is left out)."""
        scalars = {
            "roc_auc": self.roc_auc,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "log_loss": self.log_loss,
            "expected_calibration_error": self.calibration.expected_calibration_error,
            "example_count": float(self.example_count),
            "positive_rate": self.positive_rate,
        }
        return {name: value for name, value in scalars.items() if value is not None}

    def to_dict(self) -> dict:
        return asdict(self)


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray) -> BinaryMetrics:
    """All metrics for one set of examples; works on a single-class set too."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if labels.shape != probabilities.shape or labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"need equal-length non-empty 1-D labels and probabilities, got {labels.shape} and {probabilities.shape}"
        )
    predicted = (probabilities >= DECISION_THRESHOLD).astype(np.int64)
    both_classes = np.unique(labels).size == 2
    return BinaryMetrics(
        example_count=int(labels.size),
        positive_rate=float(labels.mean()),
        roc_auc=roc_auc(labels, probabilities),
        accuracy=float(accuracy_score(labels, predicted)),
        precision=float(precision_score(labels, predicted, zero_division=0)),
        recall=float(recall_score(labels, predicted, zero_division=0)),
        log_loss=float(log_loss(labels, probabilities, labels=[0, 1])),
        calibration=calibration(labels, probabilities),
        roc=thinned_roc_curve(labels, probabilities) if both_classes else None,
        confusion_matrix=confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    )


def roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """ROC AUC, or None where the labels hold a single class."""
    return float(roc_auc_score(labels, probabilities)) if np.unique(labels).size == 2 else None


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> Calibration:
    """ECE = sum over bins of (bin share of examples) * |mean predicted - observed rate|."""
    bin_index = np.minimum((probabilities * bins).astype(np.int64), bins - 1)
    counts = np.bincount(bin_index, minlength=bins)
    predicted_sum = np.bincount(bin_index, weights=probabilities, minlength=bins)
    observed_sum = np.bincount(bin_index, weights=labels, minlength=bins)
    filled = counts > 0
    bin_predicted = predicted_sum[filled] / counts[filled]
    bin_observed = observed_sum[filled] / counts[filled]
    ece = float(np.sum(counts[filled] / labels.size * np.abs(bin_predicted - bin_observed)))
    return Calibration(
        expected_calibration_error=ece,
        mean_predicted=float(probabilities.mean()),
        observed_rate=float(labels.mean()),
        bin_predicted=bin_predicted.tolist(),
        bin_observed=bin_observed.tolist(),
        bin_count=counts[filled].tolist(),
    )


def thinned_roc_curve(labels: np.ndarray, probabilities: np.ndarray, max_points: int = MAX_ROC_POINTS) -> RocCurve:
    """At most `max_points` ROC points, evenly spaced along sklearn's curve, both ends kept."""
    fpr, tpr, thresholds = roc_curve(labels, probabilities)
    if fpr.size > max_points:
        keep = np.unique(np.linspace(0, fpr.size - 1, max_points).round().astype(np.int64))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return RocCurve(fpr.tolist(), tpr.tolist(), np.minimum(thresholds, 1.0).tolist())
