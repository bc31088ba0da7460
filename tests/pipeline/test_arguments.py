"""Run arguments from the spec and the command line: the gate's bounds per task, the spec's training defaults,
and the same arguments for a retrain on drift as for a scheduled training run."""

import pytest
import yaml

from components.runs.settings import Settings
from pipelines.__main__ import _threshold
from pipelines.arguments import (
    RETRAIN_PARAMETERS,
    Overrides,
    gate_thresholds,
    monitoring_arguments,
    pipeline_arguments,
)
from pipelines.deployables import PIPELINES, RunOptions
from pipelines.monitoring_pipeline import build_monitoring_pipeline
from pipelines.training_pipeline import build_training_pipeline


def _settings(dataset: str) -> Settings:
    return Settings.from_env({"DATASET": dataset})


def test_a_threshold_flag_sets_or_lifts_one_bound():
    assert _threshold("rmse=25000") == ("rmse", 25000.0)
    assert _threshold("log_loss=off") == ("log_loss", None)
    for bad in ("rmse", "=3", "r2=high"):
        with pytest.raises(Exception, match="METRIC=VALUE|expected a number"):
            _threshold(bad)


def test_the_spec_defaults_take_the_runs_changes():
    assert gate_thresholds("mlc_churn", {}) == {"roc_auc": 0.75, "accuracy": 0.87, "log_loss": 0.36}
    lifted = gate_thresholds("mlc_churn", {"accuracy": None, "roc_auc": 0.8})
    assert lifted == {"roc_auc": 0.8, "log_loss": 0.36}
    assert gate_thresholds("ames", {"rmse": 30000.0}) == {"r2": 0.75, "rmse": 30000.0}


def test_a_bound_on_a_metric_the_task_lacks_is_refused_naming_the_task():
    with pytest.raises(
        ValueError, match=r"ames: threshold\(s\) \['roc_auc'\] are not metrics of the regression task.*'rmse'"
    ):
        gate_thresholds("ames", {"roc_auc": 0.8})
    with pytest.raises(ValueError, match="penguins: .* the multiclass task"):
        pipeline_arguments(_settings("penguins"), Overrides(thresholds={"rmse": 1.0}))


def test_a_small_dataset_brings_its_own_batch_size_and_the_run_overrides_the_builder():
    arguments = pipeline_arguments(_settings("penguins"), Overrides(model_builder="mlp"))
    assert arguments["batch_size"] == 16 and arguments["hidden_units"] == [32]
    assert arguments["model_builder"] == "mlp" and arguments["thresholds"] == {"accuracy": 0.9, "log_loss": 0.4}
    assert "model_builder" not in pipeline_arguments(_settings("mlc_churn"))
    retrain = monitoring_arguments(_settings("penguins"), "", True, None)
    assert retrain["thresholds"] == arguments["thresholds"] and retrain["batch_size"] == 16


def _compiled(pipeline, path) -> dict:
    from kfp import compiler

    compiler.Compiler().compile(pipeline, str(path))
    return next(yaml.safe_load_all(path.read_text()))


def test_the_retrain_on_drift_takes_every_training_parameter_with_the_same_defaults(tmp_path):
    """Compiled: each training pipeline input is a monitoring input (same type and default) fed to the nested run."""
    training = _compiled(build_training_pipeline(), tmp_path / "training.yaml")
    monitoring = _compiled(build_monitoring_pipeline(), tmp_path / "monitoring.yaml")
    wanted = training["root"]["inputDefinitions"]["parameters"]
    offered = monitoring["root"]["inputDefinitions"]["parameters"]
    branch = next(task for name, task in monitoring["root"]["dag"]["tasks"].items() if name.startswith("condition"))
    [nested] = monitoring["components"][branch["componentRef"]["name"]]["dag"]["tasks"].values()
    fed = nested["inputs"]["parameters"]
    assert set(fed) == set(wanted)
    for name, definition in wanted.items():
        outer = RETRAIN_PARAMETERS.get(name, name)
        assert offered[outer] == definition, name
        assert fed[name] == {"componentInputParameter": f"pipelinechannel--{outer}"}, name


@pytest.mark.parametrize(("dataset", "margin"), [("ames", 0.3), ("penguins", 0.2), ("mlc_churn", 0.05)])
def test_a_retrain_on_drift_gets_the_arguments_of_a_scheduled_training_run(dataset, margin, tmp_path):
    settings = _settings(dataset)
    options = RunOptions(train_gpus=2, retrain_on_drift=True, training_data_uri="s3://data/train.csv")
    scheduled = PIPELINES["training"].arguments(settings, options)
    monitoring = PIPELINES["monitoring"].arguments(settings, options)
    assert scheduled["baseline_margin"] == margin and scheduled["train_gpus"] == 2
    retrain = {name: monitoring[RETRAIN_PARAMETERS.get(name, name)] for name in scheduled}
    assert retrain == {**scheduled, "data_uri": "s3://data/train.csv"}
    assert monitoring["data_uri"] == settings.data_uri and monitoring["retrain_on_drift"] is True
    # Every argument is one the compiled monitoring pipeline takes: none is dropped on the way.
    compiled = _compiled(build_monitoring_pipeline(), tmp_path / "monitoring.yaml")
    assert set(monitoring) <= set(compiled["root"]["inputDefinitions"]["parameters"])


def test_the_span_settings_reach_the_run_and_split_time_needs_spans(tmp_path):
    pattern = f"{tmp_path}/flights/date={{YYYY-MM-DD}}/"
    env = {"DATASET": "mlc_churn", "DATA_URI": pattern, "TRAIN_WINDOW": "3", "ALLOW_MISSING_SPANS": "1"}
    arguments = pipeline_arguments(Settings.from_env({**env, "SPLIT": "time", "DATA_AS_OF": "2026-12-07"}))
    assert arguments["data_uri"] == pattern and arguments["train_window"] == 3
    assert arguments["allow_missing_spans"] is True and arguments["split"] == "time"
    assert arguments["data_as_of"] == "2026-12-07"
    defaults = pipeline_arguments(_settings("mlc_churn"))
    assert (defaults["train_window"], defaults["allow_missing_spans"], defaults["split"]) == (0, False, "hash")
    with pytest.raises(
        ValueError, match="SPLIT=time evaluates on the newest span: DATA_URI .*mlc_churn.csv names none"
    ):
        pipeline_arguments(Settings.from_env({"DATASET": "mlc_churn", "SPLIT": "time"}))
    for name, value, expected in (
        ("TRAIN_WINDOW", "-1", r"a number of spans \(0: every span\)"),
        ("ALLOW_MISSING_SPANS", "yes", "0 or 1"),
        ("SPLIT", "random", r"one of \['hash', 'time'\]"),
        ("DATA_AS_OF", "12/07/2026", "a day written YYYY-MM-DD"),
    ):
        with pytest.raises(ValueError, match=f"{name} must be {expected}, got '{value}'"):
            Settings.from_env({**env, name: value})
