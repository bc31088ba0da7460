"""How many trials the tune step runs: `tune_trials` is a number, or `auto`, a search only where it is cheap.

`auto` measures before it searches: one probe training (the run's values, one epoch, on the whole train
split) gives a trial's cost, the probe's wall time plus the first epoch's time for each further epoch (early
stopping only shortens a trial, so the estimate errs towards no search). The search, probe included, may
take at most SEARCH_SHARE of the run's time with it; the run without it is taken as the time the pipeline
has run so far (validate, transform) plus one trial's worth for train, which leaves evaluate and push out
and so also errs towards no search. Within that budget `auto` runs up to AUTO_TRIALS trials, and none when
fewer than MIN_TRIALS fit (one trial is no search).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AUTO = "auto"
AUTO_TRIALS = 4
MIN_TRIALS = 2
SEARCH_SHARE = 0.25


def requested_trials(value: str | int) -> int | str:
    """`tune_trials` as a count (0: no search) or AUTO; anything else is refused naming the value."""
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    if text.isdigit():
        return int(text)
    raise ValueError(f"tune_trials {value!r}: expected a whole number of trials (0: no search) or 'auto'")


@dataclass(frozen=True)
class AutoDecision:
    """What `auto` chose and from what: seconds measured or estimated, and the trials that fit."""

    trials: int
    probe_s: float
    trial_s: float
    elapsed_s: float
    budget_s: float

    def line(self) -> str:
        chosen = f"{self.trials} trials" if self.trials else "no search"
        return (
            f"tune_trials auto: {chosen} (a trial ~{self.trial_s:.0f}s; search budget {self.budget_s:.0f}s, "
            f"{SEARCH_SHARE:.0%} of the run, after {self.elapsed_s:.0f}s of it)"
        )

    def params(self) -> dict[str, str]:
        values = {
            "trials": self.trials,
            "probe_s": round(self.probe_s, 2),
            "trial_estimate_s": round(self.trial_s, 2),
            "run_elapsed_s": round(self.elapsed_s, 2),
            "budget_s": round(self.budget_s, 2),
            "search_share": SEARCH_SHARE,
        }
        return {f"auto.{name}": str(value) for name, value in values.items()}


def auto_trials(probe_s: float, first_epoch_s: float, epochs: int, elapsed_s: float) -> AutoDecision:
    """The budget rule: trials × trial ≤ share / (1 − share) × (elapsed + trial) − probe, at most AUTO_TRIALS."""
    if min(probe_s, first_epoch_s, elapsed_s) < 0 or first_epoch_s > probe_s or epochs < 1:
        raise ValueError(
            f"tune_trials auto: cannot budget from probe {probe_s}s, first epoch {first_epoch_s}s, "
            f"epochs {epochs}, run so far {elapsed_s}s (expected 0 <= first epoch <= probe, epochs >= 1)"
        )
    trial_s = probe_s + (epochs - 1) * first_epoch_s
    budget_s = SEARCH_SHARE / (1 - SEARCH_SHARE) * (elapsed_s + trial_s) - probe_s
    fits = math.floor(budget_s / trial_s) if trial_s > 0 and budget_s > 0 else 0
    trials = min(AUTO_TRIALS, fits) if fits >= MIN_TRIALS else 0
    return AutoDecision(trials, probe_s, trial_s, elapsed_s, max(budget_s, 0.0))
