"""The tune step locally: three tiny KerasTuner trials on real training, each a nested MLflow run in a real
SQLite store, and the values handed to train are the best logged trial's; `tune_trials` auto probing the
data and searching only when the run's time affords it (the rule itself: tests/unit/test_tune_budget.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from shop_spec import SPEC, SPEC_REFERENCE, write_csv

from components.common import tracking
from components.train.distributed import WorkerPool
from components.train.hyperparameters import Hyperparameters, units_from_text, with_values
from components.transform.task import run_transform
from components.tune.katib import TrialBudget
from components.tune.space import SearchSpace
from components.tune.task import AutoTrials, run_tune_step

BASE = Hyperparameters(epochs=2, batch_size=64, hidden_units=(8,), early_stopping_patience=2)
SPACE = SearchSpace(learning_rate=(1e-4, 3e-2), hidden_units=("8", "16-8"), dropout=(0.0, 0.2), batch_size=(32, 64))


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tune")
    data = write_csv(root / "shop.csv", 900, seed=4)
    run_transform(str(data), SPEC, root / "graph", root / "examples", root / "eval.csv")
    return root


def _tune(root: Path, store: str, pipeline_run: str, budget: TrialBudget | AutoTrials):
    return run_tune_step(
        dataset=SPEC_REFERENCE,
        inputs=((root / "graph", str(root / "graph")), (root / "examples", str(root / "examples"))),
        base=BASE,
        space=SPACE,
        budget=budget,
        pool=WorkerPool(1, "unused-locally", 0, "pool", "cpu"),
        tracking_uri=store,
        pipeline_run_id=pipeline_run,
    )


@pytest.mark.slow
def test_three_trials_hand_the_best_logged_one_to_train(transformed: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    pipeline_run = tracking.start_pipeline_run(store, "tune-test", "job-1", {"dataset": "shop"})

    tuned = _tune(transformed, store, pipeline_run, TrialBudget(trials=3, parallel_trials=1))
    chosen = tuned.hyperparameters
    assert tuned.line == "3 trials (tune_trials 3)"

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("tune-test").experiment_id
    runs = client.search_runs([experiment])
    (tune_run,) = [run for run in runs if run.data.tags.get("step") == "tune"]
    assert tune_run.data.tags["mlflow.parentRunId"] == pipeline_run
    trials = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == tune_run.info.run_id]
    assert len(trials) == 3 and {run.data.tags["status"] for run in trials} == {"Succeeded"}
    scores = {run.info.run_name: run.data.metrics["val_auc"] for run in trials}
    assert len(set(scores.values())) == 3, scores  # three different trials, three different outcomes
    best = max(trials, key=lambda run: run.data.metrics["val_auc"])
    assert tune_run.data.metrics["best_val_auc"] == pytest.approx(best.data.metrics["val_auc"])

    # What train gets is the best trial's values, on top of the run's other hyperparameters.
    params = best.data.params
    assert chosen == with_values(
        BASE,
        {
            "learning_rate": float(params["learning_rate"]),
            "hidden_units": params["hidden_units"],
            "dropout": float(params["dropout"]),
            "batch_size": int(params["batch_size"]),
        },
    )
    assert chosen.epochs == BASE.epochs and chosen.seed == BASE.seed
    assert SPACE.learning_rate[0] <= chosen.learning_rate <= SPACE.learning_rate[1]
    assert chosen.hidden_units in {units_from_text(text) for text in SPACE.hidden_units}


def test_the_space_is_declared_as_json_and_checked() -> None:
    space = SearchSpace.from_json(
        '{"learning_rate": [0.001, 0.1], "hidden_units": [[64, 32], "16"], "batch_size": [32]}'
    )
    assert space.learning_rate == (0.001, 0.1) and space.hidden_units == ("64-32", "16") and space.batch_size == (32,)
    assert space.dropout == SearchSpace().dropout
    assert SearchSpace.from_json("") == SearchSpace()
    for bad, message in (
        ('{"momentum": [0.1, 0.9]}', "keys among"),
        ('{"learning_rate": [0.1, 0.01]}', "0 < low < high"),
        ('{"dropout": [0.2, 1.5]}', "0 <= low < high < 1"),
        ('{"hidden_units": ["64-x"]}', "widths joined by '-'"),
        ('{"batch_size": []}', "at least one choice"),
    ):
        with pytest.raises(ValueError, match=message):
            SearchSpace.from_json(bad)
    assert with_values(BASE, {"hidden_units": "32-16", "batch_size": "128"}).hidden_units == (32, 16)
    with pytest.raises(ValueError, match="not tuned"):
        with_values(BASE, {"epochs": 3})


def test_a_budget_is_checked() -> None:
    with pytest.raises(ValueError, match="1 <= parallel <= trials"):
        TrialBudget(trials=2, parallel_trials=3)
    with pytest.raises(ValueError, match="tune_algorithm"):
        TrialBudget(trials=2, algorithm="grid")


@pytest.mark.slow
def test_auto_probes_and_logs_its_budget_and_a_run_just_begun_affords_no_search(transformed: Path, tmp_path: Path):
    """A pipeline run that started just now cannot afford a search beside the probe: the values are handed on,
    the tune run holds what auto measured and decided, and there is no trial. (When trials fit they run as
    above, as a TrialBudget; a run that affords them takes minutes here, so the rule's arithmetic is tested
    on given measures in tests/unit/test_tune_budget.py.)"""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment = client.create_experiment("tune-auto")
    pipeline_run = client.create_run(experiment, start_time=int(time.time() * 1000), run_name="now").info.run_id

    tuned = _tune(transformed, store, pipeline_run, AutoTrials(parallel_trials=1))

    runs = client.search_runs([experiment])
    (tune_run,) = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == pipeline_run]
    params, tags = tune_run.data.params, tune_run.data.tags
    assert [run for run in runs if run.data.tags.get("mlflow.parentRunId") == tune_run.info.run_id] == []
    assert tuned.hyperparameters == BASE and tuned.line.startswith("tune_trials auto: no search (a trial ~")
    assert params["tune_trials"] == "auto" and tags["tune_decision"] == tuned.line and params["auto.trials"] == "0"
    probe_s, trial_s = float(params["auto.probe_s"]), float(params["auto.trial_estimate_s"])
    assert 0 < probe_s <= trial_s <= BASE.epochs * probe_s, params  # the probe's time plus one more epoch's
    assert float(params["auto.run_elapsed_s"]) < probe_s, params  # measured before the probe, as the run began
