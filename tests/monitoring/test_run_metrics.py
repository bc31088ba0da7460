"""Run metrics: the steps' MLflow runs end in a real Pushgateway; a gateway that is down is only a warning."""

from __future__ import annotations

import logging

import mlflow
import pytest
from monitoring_support import EVALUATIONS, closed_port_url, scrape, wipe

from components.common import tracking
from components.common.specs import get_spec
from components.runs import run_metrics, step_runs
from components.tasks import task_of

pytestmark = pytest.mark.monitoring


def _samples(gateway: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [
        (found, value)
        for metric, found, value in scrape(gateway)
        if metric == run_metrics.PREFIX + name and labels.items() <= found.items()
    ]


def _pipeline_run(tracking_uri: str, dataset: str = "chicago_taxi") -> str:
    tags = {tracking.DATASET_TAG: dataset}
    return tracking.start_pipeline_run(tracking_uri, f"{dataset}-training", "job-1", {}, tags)


def _by_metric(gateway: str, name: str, **labels: str) -> dict[str, float]:
    return {found["metric"]: value for found, value in _samples(gateway, name, **labels)}


# What each task's evaluate step (EVALUATIONS) must put in the gateway: its metrics, floors and ceilings.
EXPECTED = {
    "chicago_taxi": (
        "binary",
        "roc_auc",
        {"roc_auc": 0.91, "accuracy": 0.88, "precision": 0.8, "recall": 0.7, "log_loss": 0.3, "example_count": 3000},
        {"roc_auc": 0.93, "accuracy": 0.85},
        {"log_loss": 0.4},
    ),
    "penguins": (
        "multiclass",
        "log_loss",
        {"accuracy": 0.97, "log_loss": 0.12, "macro_f1": 0.96, "weighted_f1": 0.97, "example_count": 68},
        {"accuracy": 0.9},
        {"log_loss": 0.4},
    ),
    "ames": (
        "regression",
        "rmse",
        {"rmse": 24000, "mae": 15000, "r2": 0.9, "example_count": 586},
        {"r2": 0.88},
        {"rmse": 30000},
    ),
}


def test_steps_push_their_figures_and_a_failure_replaces_the_group(tmp_mlflow_uri, pushgateway, monkeypatch):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    run_id = _pipeline_run(tmp_mlflow_uri)
    with step_runs.step_run(tmp_mlflow_uri, run_id, "validate"):
        mlflow.log_metrics({"rows": 15002, "expectations_evaluated": 70, "expectations_failed": 2})
    with step_runs.step_run(tmp_mlflow_uri, run_id, "evaluate"):
        mlflow.log_params({"threshold.roc_auc": 0.9, "threshold.accuracy": 0.85, "threshold.log_loss": 0.4})
        mlflow.log_metrics({"roc_auc": 0.93, "accuracy": 0.89, "log_loss": 0.25, "blessed": 1.0})
    group = {"job": run_metrics.JOB, "dataset": "chicago_taxi", "pipeline": "training", "pipeline_run": run_id}

    assert _samples(pushgateway, "step_success", **group, step="validate")[0][1] == 1.0
    assert _samples(pushgateway, "validation_rows", **group, step="validate")[0][1] == 15002
    assert _samples(pushgateway, "validation_expectations_failed", **group)[0][1] == 2
    assert 0 <= _samples(pushgateway, "step_duration_seconds", **group, step="validate")[0][1] < 60
    assert _samples(pushgateway, "eval_metric", **group, metric="roc_auc")[0][1] == pytest.approx(0.93)
    assert _samples(pushgateway, "eval_floor", **group, metric="roc_auc")[0][1] == pytest.approx(0.9)
    assert _samples(pushgateway, "eval_ceiling", **group, metric="log_loss")[0][1] == pytest.approx(0.4)
    assert _samples(pushgateway, "model_blessed", **group)[0][1] == 1.0

    # The next run's validate fails: its group now says so, and the old figures are gone with it.
    second = _pipeline_run(tmp_mlflow_uri)
    with pytest.raises(ValueError), step_runs.step_run(tmp_mlflow_uri, second, "validate"):
        mlflow.log_metrics({"rows": 0, "critical_failures": 1})
        raise ValueError("a critical expectation failed")
    validate = _samples(pushgateway, "step_success", dataset="chicago_taxi", step="validate")
    assert [(labels["pipeline_run"], value) for labels, value in validate] == [(second, 0.0)]
    assert _samples(pushgateway, "validation_critical_failures", step="validate")[0][1] == 1
    assert _samples(pushgateway, "validation_expectations_failed", step="validate") == []
    # evaluate's group, from the first run, is untouched
    assert _samples(pushgateway, "step_success", step="evaluate")[0][0]["pipeline_run"] == run_id


def test_a_finished_pipeline_pushes_its_success_time_and_whether_it_pushed(tmp_mlflow_uri, pushgateway, monkeypatch):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    run_id = _pipeline_run(tmp_mlflow_uri)
    tracking.client(tmp_mlflow_uri).log_metric(run_id, "blessed", 0.0)
    step_runs.finish_pipeline_run(tmp_mlflow_uri, run_id)
    run = tracking.client(tmp_mlflow_uri).get_run(run_id)
    group = {"dataset": "chicago_taxi", "pipeline": "training", "pipeline_run": run_id}
    [(_, last_success)] = _samples(pushgateway, "pipeline_last_success_timestamp_seconds", **group)
    assert last_success == pytest.approx(run.info.end_time / 1000)
    assert _samples(pushgateway, "model_pushed", **group)[0][1] == 0.0
    assert "step" not in _samples(pushgateway, "model_pushed", **group)[0][0]


@pytest.mark.parametrize("dataset", list(EXPECTED))
def test_each_task_pushes_its_metrics_with_floors_and_ceilings_by_direction(
    dataset, tmp_mlflow_uri, pushgateway, monkeypatch
):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    run_id = _pipeline_run(tmp_mlflow_uri, dataset)
    logged, params = EVALUATIONS[dataset]
    with step_runs.step_run(tmp_mlflow_uri, run_id, "evaluate"):
        mlflow.log_params(params)
        mlflow.log_metrics(logged)
    kind, headline, metrics, floors, ceilings = EXPECTED[dataset]
    group = {"dataset": dataset, "step": "evaluate", "pipeline_run": run_id}
    # The task's metrics only: per-class, slice, champion and timing figures stay in MLflow.
    assert _by_metric(pushgateway, "eval_metric", **group) == pytest.approx(metrics)
    assert _by_metric(pushgateway, "eval_floor", **group) == pytest.approx(floors)
    assert _by_metric(pushgateway, "eval_ceiling", **group) == pytest.approx(ceilings)
    [(labels, value)] = _samples(pushgateway, "model_task_info", **group)
    assert (labels["task"], labels["headline_metric"], value) == (kind, headline, 1.0)
    assert _samples(pushgateway, "model_blessed", **group)[0][1] == logged["blessed"]


@pytest.mark.parametrize("dataset", list(EXPECTED))
def test_the_push_step_reports_the_version_and_the_tasks_metrics(dataset, tmp_mlflow_uri, pushgateway, monkeypatch):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    run_id = _pipeline_run(tmp_mlflow_uri, dataset)
    client = tracking.client(tmp_mlflow_uri)
    for name, value in EVALUATIONS[dataset][0].items():  # evaluate copies its figures onto the pipeline's run
        client.log_metric(run_id, name, value)
    with step_runs.step_run(tmp_mlflow_uri, run_id, "push"):
        mlflow.log_params({"model_name": f"{dataset}-model", "model_version": "7"})
    [(labels, version)] = _samples(pushgateway, "model_version", step="push")
    assert version == 7 and labels["model"] == f"{dataset}-model"
    champion = _by_metric(pushgateway, "champion_metric", version="7", model=f"{dataset}-model")
    # the task's metrics, as the candidate's are pushed, less the count of rows it was scored on
    expected = {name: value for name, value in EXPECTED[dataset][2].items() if name != "example_count"}
    assert champion == pytest.approx(expected)


def test_train_pushes_the_best_value_of_whatever_early_stopping_watched(tmp_mlflow_uri, pushgateway, monkeypatch):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    run_id = _pipeline_run(tmp_mlflow_uri, "ames")
    with step_runs.step_run(tmp_mlflow_uri, run_id, "train"):
        mlflow.log_metrics({"best_val_loss": 0.04, "train_seconds": 31.0, "epochs_run": 12, "val_rmse": 0.2})
    assert _by_metric(pushgateway, "train_metric", step="train") == pytest.approx(
        {"best_val_loss": 0.04, "train_seconds": 31.0}
    )


def test_a_bound_on_a_metric_the_task_lacks_is_refused_by_name():
    ames = task_of(get_spec("ames"))
    with pytest.raises(ValueError, match=r"threshold\.roc_auc: 'roc_auc' is not a metric of the regression task"):
        run_metrics.step_metrics("evaluate", "r1", True, 0, 1, {"rmse": 1.0}, {"threshold.roc_auc": "0.9"}, {}, ames)
    with pytest.raises(ValueError, match="the evaluate step's figures are named by the dataset's task"):
        run_metrics.step_metrics("evaluate", "r1", True, 0, 1, {"rmse": 1.0}, {}, {})


def test_a_gateway_that_is_down_is_a_warning_and_the_step_still_succeeds(tmp_mlflow_uri, monkeypatch, caplog):
    down = closed_port_url()
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, down)
    run_id = _pipeline_run(tmp_mlflow_uri)
    with caplog.at_level(logging.WARNING, logger=run_metrics.__name__):
        with step_runs.step_run(tmp_mlflow_uri, run_id, "validate"):
            mlflow.log_metric("rows", 10)
        step_runs.finish_pipeline_run(tmp_mlflow_uri, run_id)
    client = tracking.client(tmp_mlflow_uri)
    assert client.get_run(run_id).info.status == "FINISHED"
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(down in message for message in warnings), warnings
    assert "'step': 'validate'" in warnings[0]


def test_no_gateway_configured_pushes_nothing(monkeypatch):
    monkeypatch.delenv(run_metrics.GATEWAY_VARIABLE, raising=False)
    assert run_metrics.push(run_metrics.MetricSet(), run_metrics.grouping_key("taxi", "training", "validate")) is False
