"""The task a spec's label poses: binary, multiclass or regression (components/tasks does the work)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.common.specs.vocabulary.checks import Checked


@dataclass(frozen=True)
class Binary(Checked):
    """Two classes: `Label.derive` returns 1 for the positive class and 0 otherwise (int64)."""

    kind: Literal["binary"] = "binary"


@dataclass(frozen=True)
class Multiclass(Checked):
    """One of `classes`: `Label.derive` returns the class name (a string tensor).

    The order of `classes` is the order of the model's probabilities and of its class ids.
    """

    classes: tuple[str, ...]
    kind: Literal["multiclass"] = "multiclass"


@dataclass(frozen=True)
class Regression(Checked):
    """A number: `Label.derive` returns it (float64). With `log_target` the model learns log1p of a
    non-negative target and reports on the original scale (serving, metrics and the gate)."""

    log_target: bool = False
    kind: Literal["regression"] = "regression"


TaskKind = Binary | Multiclass | Regression
