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
    from kfp.dsl import ClassificationMetrics
    from matplotlib.figure import Figure


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
    # What a model of this task is called: the default registry name is `<dataset>-<model_noun>`.
    model_noun: str
    # The metric the champion, the prior and the slices are compared on, and the metrics a threshold may
    # bound, each with whether higher is better.
    headline_metric: str
    directions: Mapping[str, bool]
    # The metrics compared with the champion's, each within an absolute tolerance (see champion_checks).
    champion_metrics: tuple[str, ...] = ()
    # A compressed variant's metric, and how far it may fall behind the full model's on it: absolute, or a
    # fraction of the full model's value where `variant_tolerance_relative` (see variant_check).
    variant_metric: str
    variant_tolerance: float
    variant_tolerance_relative: bool = False
    # Keras metric that early stopping watches on the validation split, and whether to maximise it.
    early_stopping_monitor: str
    early_stopping_maximise: bool
    # Names of the serving signature's outputs (see serving_outputs).
    serving_output_names: tuple[str, ...]
    # The constant predictor `prior_predictions` stands for, in words ("base rate").
    prior_name: str
    # The few metrics a slice table shows, the headline first.
    table_metrics: tuple[str, ...]
    # Why the headline metric can be undefined on some rows, as the gate says it of a slice.
    undefined_headline: str = "cannot be scored on its rows"

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

    def champion_checks(
        self, candidate: TaskMetrics, champion: TaskMetrics, tolerance: float, label: str
    ) -> list[Check]:
        """The candidate may be worse than the champion by at most `tolerance` on each of `champion_metrics`.

        An undefined value on either side (a ROC AUC of one class) fails the check.
        """
        mine, theirs = candidate.headline(), champion.headline()
        checks = []
        for name in self.champion_metrics:
            higher_is_better = self.directions[name]
            best = theirs.get(name)
            bound = None if best is None else best - tolerance if higher_is_better else best + tolerance
            sign = "-" if higher_is_better else "+"
            checks.append(
                compare(
                    name, mine.get(name), higher_is_better, bound, f"{label} {name} {fmt(best)} {sign} {tolerance:g}"
                )
            )
        return checks

    def variant_check(self, variant: TaskMetrics, full: TaskMetrics, tolerance: float | None = None) -> Check:
        """The variant's `variant_metric` within `tolerance` (default: the task's) of the full model's."""
        tolerance = self.variant_tolerance if tolerance is None else tolerance
        name, higher_is_better = self.variant_metric, self.directions[self.variant_metric]
        best = full.headline().get(name)
        allowed = None if best is None else abs(best) * tolerance if self.variant_tolerance_relative else tolerance
        bound = None if best is None or allowed is None else best - allowed if higher_is_better else best + allowed
        what = f"{tolerance:.2%}" if self.variant_tolerance_relative else f"{tolerance:g}"
        sign = "-" if higher_is_better else "+"
        return compare(
            name, variant.headline().get(name), higher_is_better, bound, f"full model {fmt(best)} {sign} {what}"
        )

    def soft_targets(self, labels: np.ndarray) -> np.ndarray:
        """The true labels in the head's space, [rows, output_width] float32: what a distilled student learns
        from beside its teacher's outputs."""
        return np.asarray(labels, dtype=np.float32).reshape(-1, self.output_width)

    def distillation_loss(self) -> keras.losses.Loss:
        """The loss on soft targets (blends of the teacher's outputs and `soft_targets`)."""
        return self.loss()

    def headline_value(self, metrics: TaskMetrics) -> float | None:
        return metrics.headline().get(self.headline_metric)

    def headline_score(self, targets: np.ndarray, predictions: np.ndarray) -> float | None:
        """The headline metric alone, for what re-scores many times (permutation importance)."""
        return self.headline_value(self.metrics(targets, predictions))

    @property
    def headline_higher_is_better(self) -> bool:
        return self.directions[self.headline_metric]

    def check_thresholds(self, thresholds: Mapping[str, float]) -> None:
        """Fail closed on a bound of a metric this task does not have (a typo would otherwise bound nothing)."""
        unknown = sorted(set(thresholds) - set(self.directions))
        if unknown:
            raise ValueError(
                f"threshold(s) {unknown} are not metrics of the {self.kind} task; it bounds {sorted(self.directions)}"
            )

    def threshold_checks(self, candidate: TaskMetrics, thresholds: Mapping[str, float]) -> list[Check]:
        """Each bound of the spec or the run: a floor or a ceiling by the metric's direction."""
        self.check_thresholds(thresholds)
        scalars = candidate.headline()
        return [
            compare(name, scalars.get(name), self.directions[name], bound, "threshold")
            for name, bound in thresholds.items()
        ]

    def bounds_met_by_prior(self, thresholds: Mapping[str, float], prior: TaskMetrics) -> list[str]:
        """The bounds that the prior itself passes: a spec's defaults must contain none."""
        self.check_thresholds(thresholds)
        scalars = prior.headline()
        met = []
        for name, bound in thresholds.items():
            if compare(name, scalars.get(name), self.directions[name], bound, "threshold").passed:
                op = ">=" if self.directions[name] else "<="
                met.append(f"{name} {op} {bound:g} is met by the {self.prior_name} ({scalars[name]:.4f})")
        return met

    def info_lines(self, candidate: TaskMetrics, prior: TaskMetrics) -> list[str]:
        """What the gate reports beside its checks without gating it."""
        return []

    @abstractmethod
    def describe(self, label_name: str, label_description: str) -> str:
        """The task in words, for the model card ("binary classification of tipped (...)")."""

    # --- report --------------------------------------------------------------------------------------
    @abstractmethod
    def figures(self, metrics: TaskMetrics, targets: np.ndarray, predictions: np.ndarray) -> dict[str, Figure]:
        """The task's plots of one evaluation, by name (the PNG's stem); drawn in components.tasks.figures."""

    @abstractmethod
    def log_kfp_metrics(self, metrics: TaskMetrics, classification_metrics: ClassificationMetrics) -> None:
        """What the KFP UI draws for this task (a ROC curve, a confusion matrix), on the step's output artifact."""


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


def majority_class_line(accuracy: float, prior_accuracy: float) -> str:
    """A classifier's accuracy beside the majority class's, reported and not gated: on imbalanced data a
    useful model often keeps the majority's accuracy."""
    return f"INFO: accuracy {accuracy:.4f}, majority-class accuracy {prior_accuracy:.4f} (not gated)"
