"""The hyperparameter search space: learning rate, hidden units, dropout, batch size.

One declaration serves both searches: KerasTuner's hyperparameters locally (components.tune.local)
and a Katib Experiment's parameters on a cluster (components.tune.katib). It comes from the
`tune_space` pipeline parameter (JSON), each key optional, defaults below:

    {"learning_rate": [0.0003, 0.01], "hidden_units": [[32], [64, 32], [128, 64]],
     "dropout": [0.0, 0.3], "batch_size": [256, 1024, 2048]}

The learning rate is searched on a log scale between its bounds, dropout uniformly between its
bounds; hidden units and batch size are choices. Hidden-unit layouts travel as text ("64-32"),
which both KerasTuner and Katib take as a categorical value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components.train.hyperparameters import TUNED, units_from_text, units_text


@dataclass(frozen=True)
class SearchSpace:
    learning_rate: tuple[float, float] = (3e-4, 1e-2)
    hidden_units: tuple[str, ...] = ("32", "64-32", "128-64")
    dropout: tuple[float, float] = (0.0, 0.3)
    batch_size: tuple[int, ...] = (256, 1024, 2048)

    def __post_init__(self) -> None:
        low, high = self.learning_rate
        if not 0 < low < high:
            raise ValueError(f"tune_space learning_rate {list(self.learning_rate)}: expected 0 < low < high")
        low, high = self.dropout
        if not 0 <= low < high < 1:
            raise ValueError(f"tune_space dropout {list(self.dropout)}: expected 0 <= low < high < 1")
        if not self.hidden_units or not self.batch_size:
            raise ValueError("tune_space hidden_units and batch_size each need at least one choice")
        for text in self.hidden_units:
            units_from_text(text)
        if min(self.batch_size) < 1:
            raise ValueError(f"tune_space batch_size {list(self.batch_size)}: sizes must be positive")

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        """The space from the `tune_space` parameter; "" or "{}" is the default space."""
        declared = json.loads(text or "{}")
        if not isinstance(declared, dict) or set(declared) - set(TUNED):
            raise ValueError(f"tune_space must be a JSON object with keys among {list(TUNED)}, got {text!r}")
        values: dict[str, Any] = {}
        for name in ("learning_rate", "dropout"):
            if name in declared:
                bounds = declared[name]
                if not (isinstance(bounds, list) and len(bounds) == 2):
                    raise ValueError(f"tune_space {name}: expected [low, high], got {bounds!r}")
                values[name] = (float(bounds[0]), float(bounds[1]))
        if "hidden_units" in declared:
            choices = declared["hidden_units"]
            values["hidden_units"] = tuple(
                choice if isinstance(choice, str) else units_text(choice) for choice in choices
            )
        if "batch_size" in declared:
            values["batch_size"] = tuple(int(size) for size in declared["batch_size"])
        return cls(**values)
