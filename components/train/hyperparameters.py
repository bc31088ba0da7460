"""Training hyperparameters: pipeline parameters, logged with the run, handed to the model builder.

`batch_size` and `learning_rate` default to 0, "chosen for the data" (`for_rows`): one fixed batch cannot
suit both 300 rows and 3,000,000. Measured on our 2-core machine (BENCHMARKS.md, issue 15): at 1M flights
rows a batch of 2,048 trains 1.8x faster per epoch than 256 with the same validation AUC, and on the
Chicago taxi file (10k training rows) 2,048 at learning rate 0.01 keeps ROC AUC 0.95 where 0.003 needs
twice the epochs; a small table (a few thousand rows) gets too few steps per epoch at 2,048 to learn
within the early-stopping patience. So the batch is an eighth of the training rows (at least 8 steps
per epoch), as a power of two between 32 and 2,048. Adam's learning rate is the earlier fixed 0.003 up to
a batch of 256 (what every bundled spec and test was tuned with) and grows with the batch's square root
above it, to 0.01 at 2,048.

`lr_schedule` is "constant" (that rate throughout) or "cosine" (decayed along a half cosine to 0 over
the run's planned steps, `epochs` times the steps of an epoch; early stopping may end it sooner). The
default was chosen by the sweep over the bundled datasets (bench/sweep.py, docs/models.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

CHOSEN_FOR_THE_DATA = 0
MAX_BATCH_SIZE = 2048
MIN_BATCH_SIZE = 32
STEPS_PER_EPOCH = 8
LEARNING_RATE_AT_MAX_BATCH = 0.01
SMALL_BATCH_LEARNING_RATE = 0.003
LR_SCHEDULES = ("constant", "cosine")
# What a search may set (components.tune.space); a trial's values come as JSON, hidden units as text ("64-32").
TUNED = ("learning_rate", "hidden_units", "dropout", "batch_size")


def batch_size_for(train_rows: int, steps_per_epoch: int = STEPS_PER_EPOCH) -> int:
    """The power of two nearest below train_rows / steps_per_epoch, within [MIN_BATCH_SIZE, MAX_BATCH_SIZE]."""
    wanted = max(train_rows // steps_per_epoch, 1)
    return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, 2 ** int(math.log2(wanted))))


def learning_rate_for(batch_size: int) -> float:
    return max(SMALL_BATCH_LEARNING_RATE, LEARNING_RATE_AT_MAX_BATCH * math.sqrt(batch_size / MAX_BATCH_SIZE))


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 20
    batch_size: int = CHOSEN_FOR_THE_DATA
    learning_rate: float = CHOSEN_FOR_THE_DATA
    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    early_stopping_patience: int = 3
    seed: int = 0
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: expected one of {list(LR_SCHEDULES)}")

    def for_rows(self, train_rows: int) -> Hyperparameters:
        """These hyperparameters with a batch size and learning rate left at 0 chosen for `train_rows`
        (all workers' rows together: the batch is global); values given stay as given."""
        batch_size = self.batch_size or batch_size_for(train_rows)
        return replace(self, batch_size=batch_size, learning_rate=self.learning_rate or learning_rate_for(batch_size))


def units_text(units: tuple[int, ...] | list[int]) -> str:
    return "-".join(str(int(unit)) for unit in units)


def units_from_text(text: str) -> tuple[int, ...]:
    try:
        units = tuple(int(unit) for unit in text.split("-"))
    except ValueError as error:
        raise ValueError(f"hidden units {text!r}: expected widths joined by '-', e.g. '64-32'") from error
    if not units or min(units) < 1:
        raise ValueError(f"hidden units {text!r}: every layer needs at least one unit")
    return units


def with_values(base: Hyperparameters, values: Mapping[str, Any]) -> Hyperparameters:
    """`base` with a trial's values (hidden units as text or a list); other fields stay as they are."""
    unknown = set(values) - set(TUNED)
    if unknown:
        raise ValueError(f"not tuned: {sorted(unknown)}; the search space tunes {list(TUNED)}")
    changes: dict[str, Any] = {}
    if "learning_rate" in values:
        changes["learning_rate"] = float(values["learning_rate"])
    if "dropout" in values:
        changes["dropout"] = float(values["dropout"])
    if "batch_size" in values:
        changes["batch_size"] = int(values["batch_size"])
    if "hidden_units" in values:
        units = values["hidden_units"]
        changes["hidden_units"] = units_from_text(units) if isinstance(units, str) else tuple(int(u) for u in units)
    return replace(base, **changes)
