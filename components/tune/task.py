"""The tune step: search the space, log every trial as a nested MLflow run, hand the best values to train.

On a cluster the search is a Katib Experiment (components.tune.katib); elsewhere (kfp.local) it is
KerasTuner on this machine (components.tune.local). Either way the objective is the task's
early-stopping metric on the validation split and its direction, and MLflow shows, under the
pipeline's run, a `tune` run with one nested run per trial (its values, metrics and how it ended)
and the chosen values as the tune run's params. With `tune_trials` auto (components.tune.budget) the
tune run also holds the budget's measures (`auto.*` params) and the decision (tag `tune_decision`).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import mlflow

from components.common import tracking
from components.common.specs.base import DatasetSpec
from components.runs import step_runs
from components.tasks import task_of
from components.train.distributed import SERVICE_ACCOUNT_NAMESPACE_FILE, WorkerPool, in_a_cluster
from components.train.hyperparameters import Hyperparameters, with_values
from components.train.workers import resolve_spec
from components.tune.budget import AUTO_TRIALS, AutoDecision, auto_trials
from components.tune.katib import TrialBudget, experiment_name, render_experiment, run_experiment
from components.tune.local import SearchResult, best_of, search_locally
from components.tune.space import SearchSpace


def log_search(result: SearchResult) -> None:
    """Inside the tune step's run: one nested run per trial, and the chosen values and score on the step's run."""
    step = mlflow.active_run()
    for trial in result.trials:
        with mlflow.start_run(
            run_name=trial.name,
            experiment_id=step.info.experiment_id,
            nested=True,
            tags={"step": "tune-trial", "status": trial.status},
        ):
            mlflow.log_params({key: str(value) for key, value in trial.values.items()})
            mlflow.log_metrics(trial.metrics)
    scored = [trial for trial in result.trials if trial.objective_value is not None]
    if scored:
        mlflow.log_metric(f"best_{result.objective}", best_of(scored, result.maximise).objective_value)
    mlflow.log_params({f"best.{key}": str(value) for key, value in result.best.items()})
    mlflow.log_params({"objective": result.objective, "trials": len(result.trials)})


@dataclass(frozen=True)
class AutoTrials:
    """`tune_trials` auto: the trials are decided in the step (components.tune.budget), run as a TrialBudget."""

    parallel_trials: int = 2
    algorithm: str = "tpe"

    def __post_init__(self) -> None:
        # The values a search would run with are refused now as they would be then, whatever auto decides.
        TrialBudget(AUTO_TRIALS, min(self.parallel_trials, AUTO_TRIALS), algorithm=self.algorithm)


@dataclass(frozen=True)
class Tuned:
    """What train gets, and the step's line saying how it was chosen."""

    hyperparameters: Hyperparameters
    line: str


def probe_auto(
    spec: DatasetSpec,
    graph_path: Path,
    examples_path: Path,
    base: Hyperparameters,
    model_builder: str,
    elapsed_s: float,
) -> AutoDecision:
    """Train the run's values for one epoch, timed, and apply the budget rule to what it measured."""
    from components.train.task import train_model

    with tempfile.TemporaryDirectory(prefix="tune-probe-") as scratch:
        started = time.perf_counter()
        result = train_model(
            spec, graph_path, examples_path, Path(scratch) / "probe", replace(base, epochs=1), model_builder
        )
        probe_s = time.perf_counter() - started
    return auto_trials(probe_s, min(result.train_seconds, probe_s), base.epochs, elapsed_s)


def run_tune_step(
    dataset: str,
    inputs: tuple[tuple[Path, str], tuple[Path, str]],
    base: Hyperparameters,
    space: SearchSpace,
    budget: TrialBudget | AutoTrials,
    pool: WorkerPool,
    tracking_uri: str,
    pipeline_run_id: str,
    model_builder: str = "",
    s3_endpoint_url: str = "",
) -> Tuned:
    """`base` with the best trial's values. `inputs` are the transform graph's and examples' (path, URI)."""
    spec = resolve_spec(dataset)
    (graph_path, graph_uri), (examples_path, examples_uri) = inputs
    with step_runs.step_run(tracking_uri, pipeline_run_id, "tune"):
        if isinstance(budget, AutoTrials):
            started_ms = tracking.client(tracking_uri).get_run(pipeline_run_id).info.start_time
            decision = probe_auto(spec, graph_path, examples_path, base, model_builder, time.time() - started_ms / 1000)
            mlflow.log_params({"tune_trials": "auto", **decision.params()})
            mlflow.set_tag("tune_decision", decision.line())
            if not decision.trials:
                return Tuned(base, decision.line())
            parallel = min(budget.parallel_trials, decision.trials)
            budget, decided = TrialBudget(decision.trials, parallel, algorithm=budget.algorithm), decision.line()
        else:
            decided = f"{budget.trials} trials (tune_trials {budget.trials})"
        mlflow.log_params({"algorithm": budget.algorithm, "space": str(asdict(space)), "max_trials": budget.trials})
        if in_a_cluster():
            from kubernetes import client, config

            config.load_incluster_config()
            experiment = render_experiment(
                experiment_name(pipeline_run_id),
                SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip(),
                task_of(spec),
                space,
                budget,
                base,
                pool,
                dataset,
                (graph_uri, examples_uri),
                model_builder,
                s3_endpoint_url,
            )
            result = run_experiment(client.CustomObjectsApi(), experiment)
        else:
            with tempfile.TemporaryDirectory(prefix="tune-") as scratch:
                result = search_locally(
                    spec, graph_path, examples_path, base, space, budget.trials, Path(scratch), model_builder
                )
        log_search(result)
    return Tuned(with_values(base, result.best), decided)
