"""The interface every task type (binary, multiclass, regression) implements: the task's one home.

Transform, train, serving, evaluate, the gate, push and monitoring ask the spec's task for what
differs between tasks (the label's encoding, the model's head and loss, the serving outputs, the
metrics, the headline metric and the prior to beat) instead of branching on the task themselves.

TensorFlow and Keras are imported inside the methods that need them, so that steps which only read
metric names (validate, push, monitoring) do not load them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Protocol

import numpy as np

if TYPE_CHECKING:
    import keras
    import tensorflow as tf


class TaskMetrics(Protocol):
    """Metrics of one set of predictions: the scalars that are logged, and everything for metrics.json."""

    example_count: int

    def headline(self) -> dict[str, float]: ...

    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class Check:
    """One line of the gate's decision: whether it passed, and what it compared."""

    passed: bool
    line: str


class UnscorableOutputError(ValueError):
    """A model's serving outputs are not what the task's models answer."""


class Task(ABC):
    """What one task type does at every step. Subclasses are stateless apart from the spec's declaration."""

    kind: str
    # The metric the champion, the prior and the slices are compared on, and the metrics a threshold may
    # bound, each with whether higher is better.
    headline_metric: str
    directions: Mapping[str, bool]
    # Keras metric that early stopping watches on the validation split, and whether to maximise it.
    early_stopping_monitor: str
    early_stopping_maximise: bool

    # --- transform -----------------------------------------------------------------------------------
    @property
    @abstractmethod
    def label_dtype(self) -> str:
        """dtype of the transformed label feature ("int64" or "float32")."""

    @abstractmethod
    def encode_label(self, derived: tf.Tensor) -> tf.Tensor:
        """The label as the model learns it, from what `Label.derive` returned (inside the transform graph)."""

    # --- train ---------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def output_width(self) -> int:
        """Units of the model's last layer: its output is [batch, output_width] float32."""

    @abstractmethod
    def output_layer(self, name: str = "output") -> keras.layers.Layer:
        """The head a builder ends with: `output_width` units with the task's activation, float32."""

    @abstractmethod
    def loss(self) -> keras.losses.Loss: ...

    @abstractmethod
    def keras_metrics(self) -> list[keras.metrics.Metric]: ...

    def output_scale(self, train_labels: np.ndarray) -> tuple[float, float] | None:
        """(shift, scale) of a fixed affine layer train puts after the builder's model, or None for none."""
        return None

    def describe_output(self) -> str:
        return f"[batch, {self.output_width}] float32 ({self.kind} head: {self.output_activation})"

    @property
    @abstractmethod
    def output_activation(self) -> str: ...

    # --- serving -------------------------------------------------------------------------------------
    @abstractmethod
    def serving_outputs(self, model_output: tf.Tensor) -> dict[str, tf.Tensor]:
        """The serving signature's outputs, from the model's [batch, output_width] output."""

    @abstractmethod
    def predictions(self, outputs: Mapping[str, Any], rows: int) -> np.ndarray:
        """What evaluate scores, from a serving signature's outputs (NumPy); raises UnscorableOutputError."""

    # --- evaluate ------------------------------------------------------------------------------------
    @abstractmethod
    def targets(self, derived: Any) -> np.ndarray:
        """True values to score against, from `Label.derive` on raw rows: class ids, or original-scale values."""

    @abstractmethod
    def metrics(self, targets: np.ndarray, predictions: np.ndarray) -> TaskMetrics: ...

    @abstractmethod
    def prior_predictions(self, targets: np.ndarray) -> np.ndarray:
        """The best constant prediction on these rows, one per row: what knowing only the label's distribution gives."""

    @abstractmethod
    def baseline_checks(self, candidate: TaskMetrics, prior: TaskMetrics, margin: float) -> list[Check]:
        """The candidate must beat the prior by `margin`, whatever the thresholds say."""

    @abstractmethod
    def champion_checks(self, candidate: TaskMetrics, champion: TaskMetrics, tolerance: float, label: str) -> list[Check]:
        """The candidate may be worse than the champion by at most `tolerance` on the task's key metrics."""

    def headline_value(self, metrics: TaskMetrics) -> float | None:
        return metrics.headline().get(self.headline_metric)


def compare(metric: str, value: float | None, higher_is_better: bool, bound: float | None, bound_name: str) -> Check:
    """`value` against a floor (higher is better) or a ceiling; an undefined value or bound fails."""
    op = ">=" if higher_is_better else "<="
    if value is None or bound is None:
        passed = False
    else:
        passed = value >= bound if higher_is_better else value <= bound
    return Check(passed, f"{'PASS' if passed else 'FAIL'}: {metric} {fmt(value)} {op} {fmt(bound)} ({bound_name})")


def fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"
