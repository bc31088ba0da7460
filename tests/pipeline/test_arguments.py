"""Run arguments from the spec and the command line: the gate's bounds per task, the spec's training defaults."""

import pytest

from components.common.settings import Settings
from pipelines.__main__ import _threshold
from pipelines.arguments import Overrides, gate_thresholds, monitoring_arguments, pipeline_arguments


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
