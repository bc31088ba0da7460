"""Run metrics: the steps' MLflow runs end in a real Pushgateway; a gateway that is down is only a warning."""

from __future__ import annotations

import logging

import mlflow
import pytest
from monitoring_support import closed_port_url, scrape, wipe

from components.common import run_metrics, tracking

pytestmark = pytest.mark.monitoring


def _samples(gateway: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [
        (found, value)
        for metric, found, value in scrape(gateway)
        if metric == run_metrics.PREFIX + name and labels.items() <= found.items()
    ]


def _pipeline_run(tracking_uri: str) -> str:
    return tracking.start_pipeline_run(tracking_uri, "taxi-training", "job-1", {}, {tracking.DATASET_TAG: "taxi"})


def test_steps_push_their_figures_and_a_failure_replaces_the_group(tmp_mlflow_uri, pushgateway, monkeypatch):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    run_id = _pipeline_run(tmp_mlflow_uri)
    with tracking.step_run(tmp_mlflow_uri, run_id, "validate"):
        mlflow.log_metrics({"rows": 15002, "expectations_evaluated": 70, "expectations_failed": 2})
    with tracking.step_run(tmp_mlflow_uri, run_id, "evaluate"):
        mlflow.log_params({"min_roc_auc": 0.9, "min_accuracy": 0.85, "max_log_loss": 0.4})
        mlflow.log_metrics({"roc_auc": 0.93, "accuracy": 0.89, "log_loss": 0.25, "blessed": 1.0})
    group = {"job": run_metrics.JOB, "dataset": "taxi", "pipeline": "training", "pipeline_run": run_id}

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
    with pytest.raises(ValueError), tracking.step_run(tmp_mlflow_uri, second, "validate"):
        mlflow.log_metrics({"rows": 0, "critical_failures": 1})
        raise ValueError("a critical expectation failed")
    validate = _samples(pushgateway, "step_success", dataset="taxi", step="validate")
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
    tracking.finish_pipeline_run(tmp_mlflow_uri, run_id)
    run = tracking.client(tmp_mlflow_uri).get_run(run_id)
    group = {"dataset": "taxi", "pipeline": "training", "pipeline_run": run_id}
    [(_, last_success)] = _samples(pushgateway, "pipeline_last_success_timestamp_seconds", **group)
    assert last_success == pytest.approx(run.info.end_time / 1000)
    assert _samples(pushgateway, "model_pushed", **group)[0][1] == 0.0
    assert "step" not in _samples(pushgateway, "model_pushed", **group)[0][0]


def test_the_push_step_reports_the_version_and_its_metrics(tmp_mlflow_uri, pushgateway, monkeypatch):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    run_id = _pipeline_run(tmp_mlflow_uri)
    tracking.client(tmp_mlflow_uri).log_metric(run_id, "roc_auc", 0.95)
    with tracking.step_run(tmp_mlflow_uri, run_id, "push"):
        mlflow.log_params({"model_name": "taxi-classifier", "model_version": "7"})
    [(labels, version)] = _samples(pushgateway, "model_version", step="push")
    assert version == 7 and labels["model"] == "taxi-classifier"
    [(labels, roc_auc)] = _samples(pushgateway, "champion_metric", version="7", metric="roc_auc")
    assert roc_auc == pytest.approx(0.95)


def test_a_gateway_that_is_down_is_a_warning_and_the_step_still_succeeds(tmp_mlflow_uri, monkeypatch, caplog):
    down = closed_port_url()
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, down)
    run_id = _pipeline_run(tmp_mlflow_uri)
    with caplog.at_level(logging.WARNING, logger=run_metrics.__name__):
        with tracking.step_run(tmp_mlflow_uri, run_id, "validate"):
            mlflow.log_metric("rows", 10)
        tracking.finish_pipeline_run(tmp_mlflow_uri, run_id)
    client = tracking.client(tmp_mlflow_uri)
    assert client.get_run(run_id).info.status == "FINISHED"
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(down in message for message in warnings), warnings
    assert "'step': 'validate'" in warnings[0]


def test_no_gateway_configured_pushes_nothing(monkeypatch):
    monkeypatch.delenv(run_metrics.GATEWAY_VARIABLE, raising=False)
    assert run_metrics.push(run_metrics.MetricSet(), run_metrics.grouping_key("taxi", "training", "validate")) is False
