"""Permutation importance of the raw feature columns, measured through the serving model.

A column's values are shuffled across the rows, which keeps their distribution and cuts their tie to
the row, and the rows are scored again: how much worse the task's headline metric gets (a drop in ROC
AUC, a rise in log loss or RMSE) is what the model lost by not knowing that column. Each column is
shuffled `repeats` times (one seeded generator, so a rerun gives the same figures); the interval is
Student's t over the repeats, mean ± t(confidence, repeats - 1) · sd / √repeats.
A column the model ignores loses exactly nothing: mean 0, interval [0, 0].

An image column is not shuffled but replaced, in every row, by a blank (all-zero) image of its spec's
size (`blanks`): what the model loses by seeing no image at all, scored once, so its interval is a point.

The cost is 1 + columns × repeats scorings of at most `max_rows` rows (a seeded subsample of the eval
split). Columns a feature reads together (a latitude with its longitude) are shuffled one at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from scipy import stats

from components.evaluate.scoring import Scorer
from components.tasks import Task


@dataclass(frozen=True)
class ImportanceSettings:
    """How much scoring permutation importance may cost, and how its interval is drawn."""

    max_rows: int = 20_000
    repeats: int = 5
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.max_rows < 2 or self.repeats < 2 or not 0.0 < self.confidence < 1.0:
            raise ValueError(f"importance needs max_rows >= 2, repeats >= 2 and confidence in (0, 1): {self}")

    def describe(self, rows: int, metric: str) -> dict:
        """What metrics.json records next to the figures, so a reader knows what they rest on."""
        interval = f"{self.confidence:.0%} Student's t interval over the repeats"
        return {**asdict(self), "rows": rows, "metric": metric, "interval": interval}


DEFAULT_IMPORTANCE = ImportanceSettings()


@dataclass(frozen=True)
class Importance:
    """How much worse `metric` gets when one column is shuffled: its mean over the repeats, and the interval."""

    mean: float
    ci_low: float
    ci_high: float
    metric: str

    def to_dict(self) -> dict:
        return asdict(self)


def permutation_importance(
    score: Scorer,
    dense: Mapping[str, tf.Tensor],
    targets: np.ndarray,
    columns: Sequence[str],
    task: Task,
    settings: ImportanceSettings = DEFAULT_IMPORTANCE,
    predictions: np.ndarray | None = None,
    blanks: Mapping[str, bytes] | None = None,
) -> dict[str, Importance]:
    """Importance per column, most important first; empty where the headline is undefined (one class: no ROC AUC).

    `predictions`, when given, are `score(dense)` already made (the step's candidate scoring): when every
    row is kept they are the baseline, scored in the same batches as each shuffle, so a column the model
    ignores still loses exactly nothing. A subsample is scored afresh, for the same reason.
    `blanks` maps an image column to the encoded blank image that replaces it (components/data/images.py).
    """
    rng = np.random.default_rng(settings.seed)
    if targets.size > settings.max_rows:
        keep = np.sort(rng.choice(targets.size, settings.max_rows, replace=False))
        dense = {name: tf.gather(values, keep) for name, values in dense.items()}
        targets = targets[keep]
        predictions = None
    baseline = task.headline_score(targets, score(dense) if predictions is None else predictions)
    if baseline is None:
        return {}
    importance = {}
    for column in columns:
        if blanks and column in blanks:
            blank = {**dense, column: tf.fill([targets.size], tf.constant(blanks[column], tf.string))}
            loss = _loss(task, baseline, task.headline_score(targets, score(blank)))
            importance[column] = Importance(mean=loss, ci_low=loss, ci_high=loss, metric=task.headline_metric)
            continue
        losses = []
        for _ in range(settings.repeats):
            shuffled = {**dense, column: tf.gather(dense[column], rng.permutation(targets.size))}
            losses.append(_loss(task, baseline, task.headline_score(targets, score(shuffled))))
        importance[column] = _interval(np.array(losses), settings.confidence, task.headline_metric)
    return dict(sorted(importance.items(), key=lambda item: -item[1].mean))


def _loss(task: Task, baseline: float, value: float) -> float:
    """Positive when the change hurts, whichever way the metric is better."""
    return baseline - value if task.headline_higher_is_better else value - baseline


def _interval(losses: np.ndarray, confidence: float, metric: str) -> Importance:
    mean = float(losses.mean())
    half_width = float(stats.t.ppf((1 + confidence) / 2, losses.size - 1) * losses.std(ddof=1) / np.sqrt(losses.size))
    return Importance(mean=mean, ci_low=mean - half_width, ci_high=mean + half_width, metric=metric)
