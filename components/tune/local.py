"""The search on one machine: KerasTuner's Bayesian optimisation, trials one after another.

Each trial is one `train_model` run (the train step's own training, early stopping included) with the
trial's values; its score is the best value of the task's early-stopping metric on the validation
split, the same objective a Katib Experiment optimises on a cluster.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.common.specs.base import DatasetSpec
from components.tasks import task_of
from components.train.hyperparameters import Hyperparameters, with_values
from components.tune.space import SearchSpace


@dataclass(frozen=True)
class TrialOutcome:
    """One trial: its values (hidden units as text), the best objective value it reached, and how it ended."""

    name: str
    values: dict[str, Any]
    objective_value: float | None
    status: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    objective: str
    maximise: bool
    best: dict[str, Any]
    trials: list[TrialOutcome]


def best_of(trials: list[TrialOutcome], maximise: bool) -> TrialOutcome:
    """The trial with the best objective value among those that reached one."""
    scored = [trial for trial in trials if trial.objective_value is not None]
    if not scored:
        raise RuntimeError(f"none of the {len(trials)} trials reported a value of the objective")
    pick = max if maximise else min
    return pick(scored, key=lambda trial: trial.objective_value)


def search_locally(
    spec: DatasetSpec,
    transform_graph_dir: Path,
    examples_dir: Path,
    base: Hyperparameters,
    space: SearchSpace,
    trials: int,
    scratch_dir: Path,
    model_builder: str = "",
) -> SearchResult:
    """Run `trials` trials of the space sequentially; the best trial's values come back with every trial."""
    import keras_tuner

    from components.train.task import train_model

    task = task_of(spec)
    objective = task.early_stopping_monitor
    hyperparameters = keras_tuner.HyperParameters()
    hyperparameters.Float("learning_rate", *space.learning_rate, sampling="log")
    hyperparameters.Choice("hidden_units", list(space.hidden_units))
    hyperparameters.Float("dropout", *space.dropout)
    hyperparameters.Choice("batch_size", list(space.batch_size))
    outcomes: list[TrialOutcome] = []

    class TrainTrials(keras_tuner.BayesianOptimization):
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            values = dict(trial.hyperparameters.values)
            export = scratch_dir / f"trial-{trial.trial_id}"
            result = train_model(
                spec, transform_graph_dir, examples_dir, export, with_values(base, values), model_builder
            )
            shutil.rmtree(export, ignore_errors=True)
            metrics = {objective: result.best_val_metric, "best_val_loss": result.best_val_loss}
            outcomes.append(
                TrialOutcome(f"trial-{trial.trial_id}", values, result.best_val_metric, "Succeeded", metrics)
            )
            return {objective: result.best_val_metric}

    tuner = TrainTrials(
        objective=keras_tuner.Objective(objective, direction="max" if task.early_stopping_maximise else "min"),
        max_trials=trials,
        seed=base.seed,
        hyperparameters=hyperparameters,
        directory=str(scratch_dir),
        project_name="search",
        overwrite=True,
    )
    tuner.search()
    best = tuner.oracle.get_best_trials(1)[0]
    return SearchResult(objective, task.early_stopping_maximise, dict(best.hyperparameters.values), outcomes)
