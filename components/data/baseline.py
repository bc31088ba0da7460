"""The training data's baseline: what the drift check compares new data with.

Per column: its kind (numeric, categorical or text), how it was read (number or text), its role
(feature, label or other), the null fraction, and for a numeric column its empirical CDF at up to
`MAX_CDF_POINTS` points (every distinct value when there are fewer, quantiles otherwise) with
min, max, mean and standard deviation; for a categorical column the count of each value; for a
free-text column (a spec's `Text` feature, whose every value may be new) the same profile as a
numeric one, of the number of words per value. An `Image` column is profiled as its images'
statistics (mean intensity per channel, width, height, decode failures: components/data/image_stats.py).

The label is one more column, of role label: a multiclass label (its column declares the classes
as allowed values) is categorical, a regression target numeric, so the check compares the label's
distribution whatever the task.

It is built batch by batch (`BaselineBuilder.add`) from the one reader's frames (components/data/reader.py),
so data of any size is read in chunks and a value means what it means to every step; a
numeric column keeps a uniform sample of at most `MAX_SAMPLE` values for its CDF, and its
count, min, max, mean and standard deviation are exact.

The training pipeline's validate step saves it as `baseline.json` on the pipeline's MLflow run
(`log_training_baseline`); the registry's champion version points at that run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterable, Literal, Mapping

import numpy as np
import pandas as pd

from components.common import tracking
from components.common.specs.base import Categorical, DatasetSpec, Text
from components.data.frames import CSV_CHUNK_ROWS, read_data_batches
from components.data.image_stats import statistic_columns, statistic_frames
from components.data.images import image_features
from components.data.sources import DataSource, resolve_source
from components.data.treated_frames import treated_frames

BASELINE_ARTIFACT = "baseline.json"
MAX_CDF_POINTS = 1001
MAX_SAMPLE = 200_000
MAX_CATEGORIES = 1000
# Without a spec, a column of whole numbers with at most this many distinct values is categorical.
MAX_INFERRED_CATEGORIES = 20

Kind = Literal["numeric", "categorical", "text"]
# "prediction": a model's answer (components/data/prediction_baseline.py), compared like a feature.
Role = Literal["feature", "label", "other", "prediction"]
ReadAs = Literal["number", "text"]


@dataclass(frozen=True)
class NumericProfile:
    """`cdf[i]` is the fraction of the column's non-null values that are <= `points[i]`."""

    points: list[float]
    cdf: list[float]
    min: float
    max: float
    mean: float
    std: float


@dataclass(frozen=True)
class ColumnBaseline:
    """`categories` holds at most `MAX_CATEGORIES` values; `other_count` counts the rest."""

    name: str
    kind: Kind
    read_as: ReadAs
    role: Role
    count: int
    null_fraction: float
    numeric: NumericProfile | None = None
    categories: dict[str, int] | None = None
    other_count: int = 0


@dataclass(frozen=True)
class Baseline:
    dataset: str
    source: str
    created_at: str
    row_count: int
    columns: list[ColumnBaseline]

    def column(self, name: str) -> ColumnBaseline:
        return next(column for column in self.columns if column.name == name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str, origin: str) -> Baseline:
        """Parse a baseline; `origin` names the file or URI in the error."""
        try:
            data = json.loads(text)
            columns = [
                ColumnBaseline(
                    **{**column, "numeric": NumericProfile(**column["numeric"]) if column["numeric"] else None}
                )
                for column in data.pop("columns")
            ]
            return cls(**data, columns=columns)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{origin}: not a baseline written by components.data.baseline ({error})") from None


def category_texts(values: pd.Series) -> pd.Series:
    """Non-null values as text; whole numbers lose their ".0", so 3 and 3.0 are the same category."""
    values = values.dropna()
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.map(lambda number: str(int(number)) if float(number).is_integer() else repr(float(number)))
    return values.astype(str)


def infer_kind(values: pd.Series) -> tuple[Kind, ReadAs]:
    """Text is categorical; so are whole numbers with few distinct values (codes); other numbers are numeric."""
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return "categorical", "text"
    present = values.dropna()
    if (present % 1 == 0).all() and present.nunique() <= MAX_INFERRED_CATEGORIES:
        return "categorical", "number"
    return "numeric", "number"


def spec_kinds(spec: DatasetSpec) -> dict[str, tuple[Kind, ReadAs, Role]]:
    """Kind, reading and role of each spec column.

    Free-text features are text; other strings, vocabulary features and columns with a declared set of
    allowed values (codes, a multiclass label's classes, even when written as numbers) are categorical.
    An image column stands as its statistics' numeric columns (components/data/image_stats.py).
    """
    texts = {feature.column for feature in spec.features if isinstance(feature, Text)}
    vocabulary = {feature.column for feature in spec.features if isinstance(feature, Categorical)}
    features = set(spec.feature_columns)
    labels = set(spec.label.source_columns)
    images = image_features(spec)
    found: dict[str, tuple[Kind, ReadAs, Role]] = {}
    for column in spec.columns:
        if column.name in images:  # profiled by its images' statistics, not by its references
            found.update((name, ("numeric", "number", "feature")) for name in statistic_columns(images[column.name]))
            continue
        read_as: ReadAs = "text" if column.dtype == "string" else "number"
        categorical = read_as == "text" or column.name in vocabulary or column.allowed_values is not None
        kind: Kind = "text" if column.name in texts else "categorical" if categorical else "numeric"
        role: Role = "feature" if column.name in features else "label" if column.name in labels else "other"
        found[column.name] = (kind, read_as, role)
    return found


def word_counts(values: pd.Series) -> pd.Series:
    """Words (whitespace-separated tokens) per value of a text column; a null stays null."""
    return values.map(lambda value: float(len(str(value).split())), na_action="ignore").astype("float64")


@dataclass
class _ColumnAccumulator:
    kind: Kind
    read_as: ReadAs
    role: Role
    nulls: int = 0
    count: int = 0
    total: float = 0.0
    total_squares: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))
    sample_keys: np.ndarray = field(default_factory=lambda: np.empty(0))
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, values: pd.Series, random: np.random.Generator) -> None:
        if self.kind == "categorical":
            texts = category_texts(values)
            self.nulls += len(values) - len(texts)
            self.count += len(texts)
            for value, count in texts.value_counts().items():
                self.counts[value] = self.counts.get(value, 0) + int(count)
            return
        numbers = word_counts(values) if self.kind == "text" else pd.to_numeric(values, errors="coerce")
        numbers = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        numbers = numbers[~np.isnan(numbers)]
        self.nulls += len(values) - len(numbers)
        if not len(numbers):
            return
        self.count += len(numbers)
        self.total += float(numbers.sum())
        self.total_squares += float(np.square(numbers).sum())
        self.low = min(self.low, float(numbers.min()))
        self.high = max(self.high, float(numbers.max()))
        # Bottom-k of uniform random keys: a uniform sample without replacement, mergeable across batches.
        self.sample = np.concatenate([self.sample, numbers])
        self.sample_keys = np.concatenate([self.sample_keys, random.random(len(numbers))])
        if len(self.sample) > MAX_SAMPLE:
            keep = np.argpartition(self.sample_keys, MAX_SAMPLE)[:MAX_SAMPLE]
            self.sample, self.sample_keys = self.sample[keep], self.sample_keys[keep]

    def finish(self, name: str, rows: int) -> ColumnBaseline:
        null_fraction = self.nulls / rows if rows else 0.0
        common = dict(name=name, kind=self.kind, read_as=self.read_as, role=self.role, count=self.count)
        if self.kind == "categorical":
            ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
            kept = dict(ordered[:MAX_CATEGORIES])
            other = sum(count for _, count in ordered[MAX_CATEGORIES:])
            return ColumnBaseline(**common, null_fraction=null_fraction, categories=kept, other_count=other)
        if not self.count:
            return ColumnBaseline(**common, null_fraction=null_fraction)
        mean = self.total / self.count
        variance = max(self.total_squares / self.count - mean * mean, 0.0)
        points, cdf = cdf_points(self.sample)
        profile = NumericProfile(points, cdf, self.low, self.high, mean, math.sqrt(variance))
        return ColumnBaseline(**common, null_fraction=null_fraction, numeric=profile)


def cdf_points(values: np.ndarray) -> tuple[list[float], list[float]]:
    """The empirical CDF at every distinct value, or at `MAX_CDF_POINTS` quantiles when there are more."""
    distinct, counts = np.unique(values, return_counts=True)
    cdf = np.cumsum(counts) / len(values)
    if len(distinct) > MAX_CDF_POINTS:
        chosen = np.unique(np.searchsorted(cdf, np.linspace(0, 1, MAX_CDF_POINTS)[1:]).clip(max=len(cdf) - 1))
        chosen = np.union1d(chosen, [0])
        distinct, cdf = distinct[chosen], cdf[chosen]
    return distinct.tolist(), cdf.tolist()


class BaselineBuilder:
    """Feed batches (DataFrames) with `add`, then `finish`. Kinds come from `kinds`, or from the first batch."""

    def __init__(
        self, dataset: str, source: str, kinds: Mapping[str, tuple[Kind, ReadAs, Role]] | None = None, seed: int = 0
    ) -> None:
        self.dataset = dataset
        self.source = source
        self._kinds = dict(kinds or {})
        self._columns: dict[str, _ColumnAccumulator] = {}
        self._rows = 0
        self._random = np.random.default_rng(seed)

    def add(self, batch: pd.DataFrame) -> None:
        for name in batch.columns:
            if name not in self._columns:
                if self._rows:
                    raise ValueError(f"{self.source}: column {name!r} is not in the first batch")
                kind, read_as = infer_kind(batch[name])
                self._columns[name] = _ColumnAccumulator(*self._kinds.get(name, (kind, read_as, "feature")))
            self._columns[name].add(batch[name], self._random)
        self._rows += len(batch)

    def finish(self) -> Baseline:
        if not self._rows:
            raise ValueError(f"{self.source}: no rows to build a baseline from")
        return Baseline(
            dataset=self.dataset,
            source=self.source,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            row_count=self._rows,
            columns=[accumulator.finish(name, self._rows) for name, accumulator in self._columns.items()],
        )


def build_baseline(
    batches: Iterable[pd.DataFrame],
    dataset: str,
    source: str,
    kinds: Mapping[str, tuple[Kind, ReadAs, Role]] | None = None,
) -> Baseline:
    builder = BaselineBuilder(dataset, source, kinds)
    for batch in batches:
        builder.add(batch)
    return builder.finish()


def baseline_from_csv(
    data: Path | str | DataSource, dataset: str, source: str, spec: DatasetSpec | None = None
) -> Baseline:
    """The baseline of raw data (CSV or Parquet). With a spec, its columns' kinds and roles, its sensitive
    columns treated (components/data/treated_frames.py); without one, kinds inferred and every column a feature."""
    if spec is None:
        return build_baseline(read_data_batches(data), dataset, source)
    frames = read_data_batches(data, spec)
    if image_features(spec):
        files = data if isinstance(data, DataSource) else resolve_source(str(data))
        frames = statistic_frames(files, spec, CSV_CHUNK_ROWS)
    return build_baseline(treated_frames(frames, spec), dataset, source, spec_kinds(spec))


def log_training_baseline(
    data: Path | str | DataSource, spec: DatasetSpec, source: str, tracking_uri: str, run_id: str
) -> None:
    """Save the training data's baseline as `baseline.json` on the pipeline's MLflow run."""
    baseline = baseline_from_csv(data, spec.name, source, spec)
    tracking.client(tracking_uri).log_text(run_id, baseline.to_json(), BASELINE_ARTIFACT)
