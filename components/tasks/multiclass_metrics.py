"""Multiclass metrics on plain NumPy arrays: class ids and per-class probabilities in, numbers out."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_recall_fscore_support


@dataclass(frozen=True)
class ClassFigures:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class MulticlassMetrics:
    """Metrics of the most probable class (accuracy, F1, per class) and of the probabilities (log loss).

    `confusion_matrix` rows are the true class, columns the predicted one, both in `class_names` order.
    """

    example_count: int
    class_names: list[str]
    accuracy: float
    log_loss: float
    macro_f1: float
    weighted_f1: float
    per_class: dict[str, ClassFigures]
    confusion_matrix: list[list[int]]

    def headline(self) -> dict[str, float]:
        scalars = {
            "accuracy": self.accuracy,
            "log_loss": self.log_loss,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "example_count": float(self.example_count),
        }
        for name, figures in self.per_class.items():
            scalars[f"precision.{name}"] = figures.precision
            scalars[f"recall.{name}"] = figures.recall
        return scalars

    def to_dict(self) -> dict:
        return asdict(self)


def multiclass_metrics(targets: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]) -> MulticlassMetrics:
    """All metrics for one set of examples; classes absent from the rows get precision/recall 0."""
    targets = np.asarray(targets, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = list(range(len(class_names)))
    if targets.ndim != 1 or targets.size == 0 or probabilities.shape != (targets.size, len(class_names)):
        raise ValueError(
            f"need non-empty 1-D class ids and [rows, {len(class_names)}] probabilities, "
            f"got {targets.shape} and {probabilities.shape}"
        )
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        targets, predicted, labels=classes, zero_division=0
    )
    return MulticlassMetrics(
        example_count=int(targets.size),
        class_names=list(class_names),
        accuracy=float(accuracy_score(targets, predicted)),
        log_loss=float(log_loss(targets, probabilities, labels=classes)),
        macro_f1=float(f1_score(targets, predicted, labels=classes, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(targets, predicted, labels=classes, average="weighted", zero_division=0)),
        per_class={
            name: ClassFigures(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
            for i, name in enumerate(class_names)
        },
        confusion_matrix=confusion_matrix(targets, predicted, labels=classes).tolist(),
    )
