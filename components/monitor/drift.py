"""Compare a batch of new data (or logged serving requests) with the training baseline.

Per feature and label column present in both (columns the model never reads are skipped), so a
multiclass label's class mix and a regression target's distribution are checked like any feature:

- numeric, and the words per value of a free-text column: the two-sample Kolmogorov–Smirnov
  statistic against the baseline's CDF, its asymptotic
  p-value, and the share of values far outside the baseline's range: more than `range_margin` of its
  width beyond min or max (a new sample's extremes fall just outside an old sample's range by chance;
  a scaled feature at -1 when training saw [0, 1] does not);
- categorical: the Jensen–Shannon distance (base 2, from 0 to 1) between the value frequencies,
  a chi-square p-value, and the share of values the baseline never saw;
- both: the rise of the null fraction.

An image column is compared by its images' statistics (mean intensity per channel, width, height,
decode failures), numeric columns `<column>.<statistic>` in the baseline and in the data as
`read_new_data` reads it (components/data/image_stats.py), never by its references.

A feature drifts when its statistic is at least its threshold *and* significant (p below
`p_value`), so a small batch does not drift by chance and a huge one not by a negligible shift; or
when too many of its values are out of range, unseen, or missing. The schema changes when a
baseline feature is missing or a numeric column holds text; added columns are reported only
(serving logs carry request ids), as are missing label or other columns (serving requests have
no label). The verdict is drift when any feature drifted or the schema changed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.special import kolmogorov
from scipy.stats import chi2_contingency

from components.data.baseline import Baseline, ColumnBaseline, category_texts, word_counts


@dataclass(frozen=True)
class DriftThresholds:
    ks: float = 0.1
    jensen_shannon: float = 0.1
    p_value: float = 0.001
    unseen_share: float = 0.01
    out_of_range_share: float = 0.001
    range_margin: float = 0.5
    null_increase: float = 0.1


@dataclass(frozen=True)
class FeatureDrift:
    """One column's comparison; `statistic` is "ks" (numeric, text) or "jensen_shannon" (categorical)."""

    name: str
    kind: str
    role: str
    statistic: str
    score: float
    threshold: float
    p_value: float
    rows: int
    baseline_null_fraction: float
    null_fraction: float
    unseen_share: float | None
    out_of_range_share: float | None
    drifted: bool
    reasons: list[str]


@dataclass(frozen=True)
class SchemaChange:
    """`breaking` changes (a missing feature, text in a numeric column) count as drift."""

    column: str
    change: str
    detail: str
    breaking: bool


@dataclass(frozen=True)
class DriftReport:
    dataset: str
    baseline_source: str
    data_source: str
    baseline_rows: int
    rows: int
    thresholds: DriftThresholds
    features: list[FeatureDrift]
    schema_changes: list[SchemaChange] = field(default_factory=list)

    @property
    def drifted_features(self) -> list[str]:
        return [feature.name for feature in self.features if feature.drifted]

    @property
    def breaking_schema_changes(self) -> list[SchemaChange]:
        return [change for change in self.schema_changes if change.breaking]

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_features or self.breaking_schema_changes)

    def verdict(self) -> str:
        """The closing lines of `make monitor`: one line per feature, then the overall verdict."""
        lines = [f"drift check of {self.data_source} ({self.rows} rows) against {self.baseline_source}"]
        for feature in self.features:
            state = "DRIFT   " if feature.drifted else "no drift"
            detail = "; ".join(feature.reasons) if feature.reasons else ""
            lines.append(
                f"  {state}  {feature.name:<28} {feature.statistic}={feature.score:.4f} "
                f"(threshold {feature.threshold}, p={feature.p_value:.3g}) {detail}".rstrip()
            )
        for change in self.schema_changes:
            state = "SCHEMA  " if change.breaking else "note    "
            lines.append(f"  {state}  {change.column:<28} {change.change}: {change.detail}")
        if self.drifted:
            causes = self.drifted_features + [f"schema: {c.column} {c.change}" for c in self.breaking_schema_changes]
            lines.append(f"verdict: DRIFT ({', '.join(causes)})")
        else:
            lines.append("verdict: no drift")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "verdict": self.verdict(),
        }


def compare(baseline: Baseline, data: pd.DataFrame, data_source: str, thresholds: DriftThresholds) -> DriftReport:
    """The drift report of `data` (as read by `read_new_data`) against the baseline."""
    changes: list[SchemaChange] = []
    features: list[FeatureDrift] = []
    for column in baseline.columns:
        if column.role == "other":
            continue
        if column.name not in data.columns:
            breaking = column.role in ("feature", "prediction")
            detail = {"feature": "a feature the model reads", "prediction": "one of the model's answers"}.get(
                column.role, "the label's column, not read by the model"
            )
            changes.append(SchemaChange(column.name, "missing", detail, breaking))
            continue
        values = data[column.name]
        if column.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce")
            text = values[numbers.isna() & values.notna()]
            if len(text):
                example = ", ".join(repr(value) for value in text.astype(str).unique()[:3])
                changes.append(
                    SchemaChange(
                        column.name, "type", f"{len(text)} values are not numbers (e.g. {example})", breaking=True
                    )
                )
            features.append(_numeric_drift(column, numbers, thresholds))
        elif column.kind == "text":
            features.append(_numeric_drift(column, word_counts(values), thresholds))
        else:
            features.append(_categorical_drift(column, values, thresholds))
    known = {column.name for column in baseline.columns}
    for name in data.columns:
        if name not in known:
            changes.append(SchemaChange(name, "added", "not in the baseline; ignored", breaking=False))
    return DriftReport(
        dataset=baseline.dataset,
        baseline_source=baseline.source,
        data_source=data_source,
        baseline_rows=baseline.row_count,
        rows=len(data),
        thresholds=thresholds,
        features=features,
        schema_changes=changes,
    )


def ks_against_cdf(points: np.ndarray, cdf: np.ndarray, values: np.ndarray) -> float:
    """sup |F_new - F_baseline|, taken at the baseline's points and at every new value.

    Both CDFs are right-continuous steps; between stored quantile points the baseline's is
    known only to the resolution of `MAX_CDF_POINTS`.
    """
    values = np.sort(values)
    at = np.union1d(points, values)
    new_cdf = np.searchsorted(values, at, side="right") / len(values)
    index = np.searchsorted(points, at, side="right") - 1
    base_cdf = np.where(index >= 0, cdf[index.clip(min=0)], 0.0)
    return float(np.max(np.abs(new_cdf - base_cdf)))


def ks_p_value(statistic: float, baseline_count: int, count: int) -> float:
    """Asymptotic two-sample KS p-value (Stephens' small-sample correction)."""
    effective = math.sqrt(baseline_count * count / (baseline_count + count))
    return float(kolmogorov((effective + 0.12 + 0.11 / effective) * statistic))


def _null_reason(column: ColumnBaseline, null_fraction: float, thresholds: DriftThresholds) -> list[str]:
    rise = null_fraction - column.null_fraction
    if rise > thresholds.null_increase:
        return [f"nulls {column.null_fraction:.1%} -> {null_fraction:.1%}"]
    return []


def _numeric_drift(column: ColumnBaseline, numbers: pd.Series, thresholds: DriftThresholds) -> FeatureDrift:
    present = numbers.dropna().to_numpy(dtype=np.float64)
    null_fraction = 1 - len(present) / len(numbers) if len(numbers) else 0.0
    reasons = _null_reason(column, null_fraction, thresholds)
    profile = column.numeric
    score, p_value, out_of_range = 0.0, 1.0, 0.0
    if profile is None or not len(present):
        if profile is not None or len(present):  # one side is empty, not both
            reasons.append("no values in the new data" if profile else "the baseline had no values")
    else:
        score = ks_against_cdf(np.asarray(profile.points), np.asarray(profile.cdf), present)
        p_value = ks_p_value(score, column.count, len(present))
        margin = thresholds.range_margin * (profile.max - profile.min)
        outside = (present < profile.min - margin) | (present > profile.max + margin)
        out_of_range = float(outside.mean())
        if score >= thresholds.ks and p_value < thresholds.p_value:
            shifted = "words per value" if column.kind == "text" else "distribution"
            reasons.append(f"{shifted} shifted (KS {score:.3f}, p={p_value:.2g})")
        if out_of_range > thresholds.out_of_range_share:
            reasons.append(
                f"{out_of_range:.1%} of values far outside the baseline range [{profile.min:.4g}, {profile.max:.4g}] "
                f"(e.g. {present[outside][0]:.4g})"
            )
    return FeatureDrift(
        name=column.name,
        kind=column.kind,
        role=column.role,
        statistic="ks",
        score=score,
        threshold=thresholds.ks,
        p_value=p_value,
        rows=len(present),
        baseline_null_fraction=column.null_fraction,
        null_fraction=null_fraction,
        unseen_share=None,
        out_of_range_share=out_of_range,
        drifted=bool(reasons),
        reasons=reasons,
    )


def _categorical_drift(column: ColumnBaseline, values: pd.Series, thresholds: DriftThresholds) -> FeatureDrift:
    texts = category_texts(values)
    null_fraction = 1 - len(texts) / len(values) if len(values) else 0.0
    reasons = _null_reason(column, null_fraction, thresholds)
    known = column.categories or {}
    counts = texts.value_counts()
    unseen = counts[~counts.index.isin(list(known))]
    unseen_share = float(unseen.sum() / len(texts)) if len(texts) else 0.0
    score, p_value = 0.0, 1.0
    if len(texts) and column.count:
        categories = sorted(set(known) | set(counts.index))
        table = np.array(
            [
                [known.get(name, 0) for name in categories] + [column.other_count],
                [int(counts.get(name, 0)) for name in categories] + [0],
            ],
            dtype=np.float64,
        )
        table = table[:, table.sum(axis=0) > 0]
        score = float(jensenshannon(table[0], table[1], base=2))
        p_value = float(chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
        if score >= thresholds.jensen_shannon and p_value < thresholds.p_value:
            reasons.append(f"frequencies shifted (Jensen-Shannon {score:.3f}, p={p_value:.2g})")
    elif len(texts) or column.count:  # one side is empty, not both
        reasons.append("no values in the new data" if column.count else "the baseline had no values")
    if unseen_share > thresholds.unseen_share:
        examples = ", ".join(repr(name) for name in unseen.index[:3])
        reasons.append(f"{unseen_share:.1%} of values never seen in the baseline (e.g. {examples})")
    return FeatureDrift(
        name=column.name,
        kind="categorical",
        role=column.role,
        statistic="jensen_shannon",
        score=score,
        threshold=thresholds.jensen_shannon,
        p_value=p_value,
        rows=len(texts),
        baseline_null_fraction=column.null_fraction,
        null_fraction=null_fraction,
        unseen_share=unseen_share,
        out_of_range_share=None,
        drifted=bool(reasons),
        reasons=reasons,
    )
