"""Run metrics pushed to a Prometheus Pushgateway from inside the steps, so they work on a cluster too.

Nothing happens unless `PUSHGATEWAY_URL` (`host:port` or `http://host:port`) is set in the step's
environment. A gateway that is down, or any failure to gather the figures, is a logged warning:
metrics never fail a run.

Every group is pushed under job `tabular_mlops` with the grouping key {dataset, pipeline, step}
(a finished pipeline run: {dataset, pipeline}). A push replaces its whole group, so a group always
holds the latest run of that step of that dataset: series stay bounded, and an alert on a failed
step clears when the step next succeeds. The MLflow run id is the `pipeline_run` label.

The figures are read back from what the step logged to MLflow (its nested run's metrics and
params), so the steps themselves only call `step_runs.step_run` and `step_runs.finish_pipeline_run`.
Which evaluation metrics there are, and whether a bound is a floor or a ceiling, is the dataset's
task's to say (`components.tasks`): binary, multiclass and regression runs push their own metric
names under the same Prometheus metrics, told apart by the `metric` label, and `model_task_info`
names each dataset's task and headline metric.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Mapping

import mlflow
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from components.common.specs import get_spec
from components.common.tracking import DATASET_TAG, THRESHOLD_PARAM
from components.tasks import Task, task_of

logger = logging.getLogger(__name__)

GATEWAY_VARIABLE = "PUSHGATEWAY_URL"
# ConfigMap in the pipeline's namespace whose PUSHGATEWAY_URL key the cluster's pipeline pods read
# (monitoring/k8s/pushgateway.yaml creates it).
GATEWAY_CONFIG_MAP = "tabular-mlops-monitoring"
JOB = "tabular_mlops"
PREFIX = "tabular_mlops_"
# Tag on the pipeline's MLflow run naming which pipeline it is; runs without it are training runs.
PIPELINE_TAG = "pipeline"
TRAINING_PIPELINE = "training"
PUSH_TIMEOUT_S = 5.0
# Train logs the best validation value of each metric early stopping watched as `best_val_<metric>`.
BEST_VALIDATION = "best_val_"
# Every task's metrics count the examples they scored (TaskMetrics.example_count).
EXAMPLE_COUNT = "example_count"
# Steps whose figures are named by the dataset's task.
TASK_STEPS = ("evaluate", "push")

_RUN = ("pipeline_run",)
# Every metric the project emits, with its help text and labels (beyond the grouping key). One
# table, because the Pushgateway refuses a metric whose help or labels differ between groups.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "step_success": ("1 if the step's latest run succeeded, 0 if it failed", _RUN),
    "step_duration_seconds": ("Wall time of the step's latest run", _RUN),
    "step_last_run_timestamp_seconds": ("When the step's latest run ended (Unix time)", _RUN),
    "validation_rows": ("Rows the validate step read", _RUN),
    "validation_expectations_evaluated": ("Expectations the validate step evaluated", _RUN),
    "validation_expectations_failed": ("Expectations that failed, warnings included", _RUN),
    "validation_critical_failures": ("Critical expectations that failed (they fail the run)", _RUN),
    "transform_rows": ("Rows the transform step wrote, per split", (*_RUN, "split")),
    "train_metric": ("Training figures: best validation value of each watched metric, seconds", (*_RUN, "metric")),
    "eval_metric": ("The task's metrics of the latest candidate model on the eval split", (*_RUN, "metric")),
    "eval_floor": ("The gate's lowest acceptable value of the metric", (*_RUN, "metric")),
    "eval_ceiling": ("The gate's highest acceptable value of the metric", (*_RUN, "metric")),
    "model_blessed": ("1 if the gate blessed the latest candidate model, else 0", _RUN),
    "model_task_info": ("1; its labels name the model's task and headline metric", (*_RUN, "task", "headline_metric")),
    "model_version": ("Registry version number of the latest pushed model", (*_RUN, "model")),
    "champion_metric": ("The task's metrics of each pushed model version", (*_RUN, "model", "version", "metric")),
    "model_pushed": ("1 if the latest finished pipeline run pushed a model, else 0", _RUN),
    "pipeline_duration_seconds": ("Wall time of the latest finished pipeline run", _RUN),
    "pipeline_last_success_timestamp_seconds": ("When a pipeline run last finished without error", _RUN),
    "drift_rows_checked": ("Rows of new data the drift check compared with the baseline", _RUN),
    "drift_detected": ("1 if the latest drift check found drift in any feature or in the schema", _RUN),
    "drift_features_drifted": ("Features the latest drift check found drifted", _RUN),
    "drift_schema_changes": ("Columns missing, added or of another type than in the baseline", _RUN),
    "drift_feature_detected": ("1 if the feature drifted in the latest check", (*_RUN, "feature")),
    "drift_feature_score": ("Drift statistic of the feature (KS or Jensen-Shannon)", (*_RUN, "feature", "statistic")),
    "drift_feature_threshold": ("Statistic above which the feature counts as drifted", (*_RUN, "feature", "statistic")),
    "drift_unseen_category_share": ("Share of the feature's values never seen in the baseline", (*_RUN, "feature")),
    "drift_out_of_range_share": ("Share of the feature's values outside the baseline's range", (*_RUN, "feature")),
    "drift_last_check_timestamp_seconds": ("When the latest drift check ended (Unix time)", _RUN),
}  # fmt: skip

# MLflow metric of a step -> (Prometheus metric, extra label values); train's and evaluate's metric names vary
# (by task) and are picked in `step_metrics`.
_STEP_FIGURES: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "validate": {
        "rows": ("validation_rows", {}),
        "expectations_evaluated": ("validation_expectations_evaluated", {}),
        "expectations_failed": ("validation_expectations_failed", {}),
        "critical_failures": ("validation_critical_failures", {}),
    },
    "transform": {
        "train_rows": ("transform_rows", {"split": "train"}),
        "eval_rows": ("transform_rows", {"split": "eval"}),
    },
    "evaluate": {"blessed": ("model_blessed", {})},
}


class MetricSet:
    """A fresh registry holding some of `METRICS`, filled by name."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._gauges: dict[str, Gauge] = {}

    def set(self, name: str, value: float, **labels: str) -> None:
        if name not in self._gauges:
            help_text, label_names = METRICS[name]
            self._gauges[name] = Gauge(PREFIX + name, help_text, label_names, registry=self.registry)
        self._gauges[name].labels(**labels).set(value)


def gateway_url() -> str | None:
    return os.environ.get(GATEWAY_VARIABLE) or None


def grouping_key(dataset: str, pipeline: str, step: str | None = None) -> dict[str, str]:
    key = {"dataset": dataset, "pipeline": pipeline}
    return {**key, "step": step} if step else key


def push(metrics: MetricSet, key: Mapping[str, str], gateway: str | None = None) -> bool:
    """Push one group, replacing what the gateway held for it; False (and a warning) when that failed."""
    gateway = gateway or gateway_url()
    if gateway is None:
        return False
    try:
        push_to_gateway(gateway, job=JOB, registry=metrics.registry, grouping_key=dict(key), timeout=PUSH_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - monitoring must never fail a run
        logger.warning("run metrics not pushed to the Pushgateway at %s (group %s): %s", gateway, dict(key), error)
        return False
    return True


def step_metrics(
    step: str,
    pipeline_run: str,
    succeeded: bool,
    started: float,
    finished: float,
    metrics: Mapping[str, float],
    params: Mapping[str, str],
    parent_metrics: Mapping[str, float],
    task: Task | None = None,
) -> MetricSet:
    """The group of one step run, from what it logged to MLflow (and, for push, its pipeline's metrics).

    `task` (the dataset's) names the figures of the `TASK_STEPS`; the other steps need none.
    """
    found = MetricSet()
    run = {"pipeline_run": pipeline_run}
    found.set("step_success", float(succeeded), **run)
    found.set("step_duration_seconds", finished - started, **run)
    found.set("step_last_run_timestamp_seconds", finished, **run)
    for mlflow_name, (name, labels) in _STEP_FIGURES.get(step, {}).items():
        if mlflow_name in metrics:
            found.set(name, metrics[mlflow_name], **run, **labels)
    if step == "train":
        for name in sorted(metrics):
            if name.startswith(BEST_VALIDATION) or name == "train_seconds":
                found.set("train_metric", metrics[name], **run, metric=name)
    if step in TASK_STEPS and task is None:
        raise ValueError(f"the {step} step's figures are named by the dataset's task, and none was given")
    if step == "evaluate":
        _evaluation_figures(found, run, metrics, params, task)
    if step == "push" and succeeded and "model_version" in params:
        model, version = params.get("model_name", ""), params["model_version"]
        found.set("model_version", float(version), **run, model=model)
        for metric in task.directions:
            if metric in parent_metrics:
                found.set("champion_metric", parent_metrics[metric], **run, model=model, version=version, metric=metric)
    return found


def _evaluation_figures(
    found: MetricSet, run: Mapping[str, str], metrics: Mapping[str, float], params: Mapping[str, str], task: Task
) -> None:
    """The task's metrics the candidate scored, the gate's bound of each, and which task it is."""
    found.set("model_task_info", 1.0, **run, task=task.kind, headline_metric=task.headline_metric)
    for metric in (*task.directions, EXAMPLE_COUNT):
        if metric in metrics:
            found.set("eval_metric", metrics[metric], **run, metric=metric)
    for param, bound in params.items():
        if not param.startswith(THRESHOLD_PARAM):
            continue
        metric = param.removeprefix(THRESHOLD_PARAM)
        if metric not in task.directions:
            known = sorted(task.directions)
            raise ValueError(f"param {param}: {metric!r} is not a metric of the {task.kind} task, which has {known}")
        found.set("eval_floor" if task.directions[metric] else "eval_ceiling", float(bound), **run, metric=metric)


def push_step(client: MlflowClient, parent: Run, step: str, started: float, succeeded: bool) -> None:
    """Called by `step_runs.step_run` as the step's MLflow run ends; see the module docstring."""
    if gateway_url() is None:
        return
    try:
        step_run = _latest_step_run(parent, step)
        dataset, pipeline = _dataset_and_pipeline(parent)
        metrics = step_metrics(
            step,
            parent.info.run_id,
            succeeded,
            started,
            time.time(),
            step_run.data.metrics if step_run else {},
            step_run.data.params if step_run else {},
            client.get_run(parent.info.run_id).data.metrics if step == "push" else {},
            task_of(get_spec(dataset)) if step in TASK_STEPS else None,
        )
    except Exception as error:  # noqa: BLE001 - monitoring must never fail a run
        logger.warning("run metrics of step %s not gathered: %s", step, error)
        return
    push(metrics, grouping_key(dataset, pipeline, step))


def push_pipeline_finished(client: MlflowClient, pipeline_run_id: str) -> None:
    """Called by `step_runs.finish_pipeline_run`: when the pipeline last succeeded, and whether it pushed."""
    if gateway_url() is None:
        return
    try:
        parent = client.get_run(pipeline_run_id)
        found = pipeline_finished_metrics(parent)
    except Exception as error:  # noqa: BLE001 - monitoring must never fail a run
        logger.warning("run metrics of pipeline run %s not gathered: %s", pipeline_run_id, error)
        return
    push(found, grouping_key(*_dataset_and_pipeline(parent)))


def pipeline_finished_metrics(parent: Run) -> MetricSet:
    """The group of a pipeline run that just finished without error."""
    found = MetricSet()
    run = {"pipeline_run": parent.info.run_id}
    ended_s = (parent.info.end_time or time.time() * 1000) / 1000
    found.set("pipeline_last_success_timestamp_seconds", ended_s, **run)
    found.set("pipeline_duration_seconds", ended_s - parent.info.start_time / 1000, **run)
    if "blessed" in parent.data.metrics:
        # The pipeline finishes after push when blessed and after evaluate when not.
        found.set("model_pushed", parent.data.metrics["blessed"], **run)
    return found


def _dataset_and_pipeline(parent: Run) -> tuple[str, str]:
    tags = parent.data.tags
    return tags.get(DATASET_TAG, "unknown"), tags.get(PIPELINE_TAG, TRAINING_PIPELINE)


def _latest_step_run(parent: Run, step: str) -> Run | None:
    """The step's nested run that just ended in this process, if it is this pipeline's."""
    last = mlflow.last_active_run()
    if last is None:
        return None
    tags = last.data.tags
    if tags.get("mlflow.parentRunId") != parent.info.run_id or tags.get("step") != step:
        return None
    return last
