"""Raw columns, what good data looks like in them, and the label derived from some of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from components.common.specs.vocabulary.checks import Checked, SpecError

RawType = Literal["float", "int", "string"]
Severity = Literal["critical", "warning"]
# What a float column does with inf, -inf or a number too large for a double (1e400): refuse the file, or
# read it as missing.
NonFinite = Literal["refuse", "missing"]
# The raw texts every step reads as missing, unless a spec names its own (DatasetSpec.missing_values): what
# pandas, R and spreadsheet exports write for "no value".
MISSING_VALUES: tuple[str, ...] = ("", "NA", "N/A", "null", "None", "nan", "NaN")
# The longest raw line (bytes) any step reads, unless a spec names its own (DatasetSpec.max_line_bytes).
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class Column(Checked):
    """A raw column and what good data looks like in it.

    `max_null_fraction` of 1.0 accepts a column that is entirely empty.
    `allowed_values` (strings) are expected in at least `allowed_mostly` of
    the non-null rows; the rest count as unseen categories.
    `non_finite` (float columns only) says whether inf, -inf and 1e400 refuse the file or read as missing.
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
    non_finite: NonFinite = "refuse"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.non_finite != "refuse" and self.dtype != "float":
            raise SpecError(f"Column({self.name!r}).non_finite", f"applies to float columns only, not {self.dtype}")


# Takes and returns TensorFlow tensors; typed loosely so that reading a spec does not import TensorFlow.
LabelFn = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Label(Checked):
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
