"""Permutation importance of the raw feature columns, measured through the serving model.

A column's values are shuffled across the rows, which keeps their distribution and cuts their tie to
the row, and the rows are scored again: the drop in ROC AUC is what the model lost by not knowing that
column. Each column is shuffled `repeats` times (one seeded generator, so a rerun gives the same
figures); the interval is Student's t over the repeats, mean ± t(confidence, repeats - 1) · sd / √repeats.
A column the model ignores loses exactly nothing: mean 0, interval [0, 0].

The cost is 1 + columns × repeats scorings of at most `max_rows` rows (a seeded subsample of the eval
split). Columns a feature reads together (a latitude with its longitude) are shuffled one at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from scipy import stats
from sklearn.metrics import roc_auc_score

from components.evaluate.scoring import Scorer

IMPORTANCE_METRIC = "roc_auc"


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

    def describe(self, rows: int) -> dict:
        """What metrics.json records next to the figures, so a reader knows what they rest on."""
        interval = f"{self.confidence:.0%} Student's t interval over the repeats"
        return {**asdict(self), "rows": rows, "metric": IMPORTANCE_METRIC, "interval": interval}


DEFAULT_IMPORTANCE = ImportanceSettings()


@dataclass(frozen=True)
class Importance:
    """The drop in `metric` when one column is shuffled: its mean over the repeats, and the interval."""

    mean: float
    ci_low: float
    ci_high: float
    metric: str = IMPORTANCE_METRIC

    def to_dict(self) -> dict:
        return asdict(self)


def permutation_importance(
    score: Scorer,
    dense: Mapping[str, tf.Tensor],
    labels: np.ndarray,
    columns: Sequence[str],
    settings: ImportanceSettings = DEFAULT_IMPORTANCE,
) -> dict[str, Importance]:
    """Importance per column, most important first; empty when the rows hold one class (no ROC AUC)."""
    rng = np.random.default_rng(settings.seed)
    if labels.size > settings.max_rows:
        keep = np.sort(rng.choice(labels.size, settings.max_rows, replace=False))
        dense = {name: tf.gather(values, keep) for name, values in dense.items()}
        labels = labels[keep]
    if np.unique(labels).size < 2:
        return {}
    baseline = roc_auc_score(labels, score(dense))
    importance = {}
    for column in columns:
        drops = [
            baseline
            - roc_auc_score(labels, score({**dense, column: tf.gather(dense[column], rng.permutation(labels.size))}))
            for _ in range(settings.repeats)
        ]
        importance[column] = _interval(np.array(drops), settings.confidence)
    return dict(sorted(importance.items(), key=lambda item: -item[1].mean))


def _interval(drops: np.ndarray, confidence: float) -> Importance:
    mean = float(drops.mean())
    half_width = float(stats.t.ppf((1 + confidence) / 2, drops.size - 1) * drops.std(ddof=1) / np.sqrt(drops.size))
    return Importance(mean=mean, ci_low=mean - half_width, ci_high=mean + half_width)
