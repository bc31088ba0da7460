"""Grafana dashboards: they parse, every panel queries, and every query names metrics the code emits."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from monitoring_support import DASHBOARDS, EVALUATIONS, PROJECT_METRIC, RULES, emitted_metric_names, evaluation_metrics

from components.common.specs.base import Binary, Multiclass, Regression
from components.runs import run_metrics
from components.tasks import task_for

pytestmark = pytest.mark.monitoring

# Grafana's variables, replaced by something PromQL accepts before promtool parses a query.
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d", "$dataset": ".*", "$metric": ".+"}


def _dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in DASHBOARDS}


def _queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) of every panel target."""
    return [
        (name, panel["title"], target["expr"])
        for name, board in _dashboards().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_the_three_dashboards_parse_with_unique_uids():
    boards = _dashboards()
    assert set(boards) == {"training-runs.json", "model-metrics.json", "drift.json"}
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, board in boards.items():
        assert board["title"] and board["panels"], name
        variables = {variable["name"] for variable in board["templating"]["list"]}
        assert {"datasource", "dataset"} <= variables, name


def test_every_panel_queries_a_project_metric_through_the_datasource_variable():
    for name, board in _dashboards().items():
        for panel in board["panels"]:
            assert panel["targets"], f"{name}: panel {panel['title']!r} has no query"
            assert panel["datasource"]["uid"] == "${datasource}", f"{name}: {panel['title']}"
            for target in panel["targets"]:
                assert PROJECT_METRIC.search(target["expr"]), f"{name}: {panel['title']}: {target['expr']}"


def test_every_query_names_only_metrics_the_code_emits(finished_run, installed_penguins):
    emitted = emitted_metric_names(finished_run, installed_penguins)
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    unknown = [
        f"{name}: {title}: {metric}"
        for name, title, expr in _queries()
        for metric in PROJECT_METRIC.findall(expr)
        if metric not in emitted | recorded
    ]
    assert not unknown, "panels query metrics nothing emits:\n" + "\n".join(unknown)


def _substituted(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


def test_every_query_is_valid_promql(debian_tool, tmp_path):
    """promtool parses each query, as the expression of a recording rule."""
    rules = [
        {"record": f"dashboard_query_{number}", "expr": _substituted(expr)}
        for number, (_, _, expr) in enumerate(_queries())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [debian_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_query_names_a_metric_of_one_task():
    """A panel picks metrics by the gate's floors and ceilings, the headline recording rule or $metric."""
    tasks = (task_for(Binary()), task_for(Multiclass(("a", "b"))), task_for(Regression()))
    names = sorted({name for task in tasks for name in task.directions})
    named = re.compile(rf"\b({'|'.join(names)})\b")
    found = [f"{board}: {title}: {expr}" for board, title, expr in _queries() if named.search(expr)]
    assert not found, "queries naming one task's metrics:\n" + "\n".join(found)


# What each model-metrics panel shows for EVALUATIONS (a binary, a multiclass and a regression dataset):
# per query, (series name, dataset, metric, value), and the task for the headline's recording rule.
HEADLINE = "tabular_mlops:candidate_headline_metric"
METRIC, FLOOR, CEILING = (run_metrics.PREFIX + name for name in ("eval_metric", "eval_floor", "eval_ceiling"))
SHOWN = {
    ("Candidate's headline metric and its bound", "A"): [
        (HEADLINE, "chicago_taxi", "roc_auc", 0.91), (HEADLINE, "penguins", "log_loss", 0.12),
        (HEADLINE, "ames", "rmse", 24000),
    ],
    ("Candidate's headline metric and its bound", "B"): [
        (FLOOR, "chicago_taxi", "roc_auc", 0.93), (CEILING, "penguins", "log_loss", 0.4),
        (CEILING, "ames", "rmse", 30000),
    ],
    ("Candidate metrics against the gate's floors", "A"): [
        (METRIC, "chicago_taxi", "roc_auc", 0.91), (METRIC, "chicago_taxi", "accuracy", 0.88),
        (METRIC, "penguins", "accuracy", 0.97), (METRIC, "ames", "r2", 0.9),
    ],
    ("Candidate metrics against the gate's floors", "B"): [
        (FLOOR, "chicago_taxi", "roc_auc", 0.93), (FLOOR, "chicago_taxi", "accuracy", 0.85),
        (FLOOR, "penguins", "accuracy", 0.9), (FLOOR, "ames", "r2", 0.88),
    ],
    ("Candidate metrics against the gate's ceilings", "A"): [
        (METRIC, "chicago_taxi", "log_loss", 0.3), (METRIC, "penguins", "log_loss", 0.12),
        (METRIC, "ames", "rmse", 24000),
    ],
    ("Candidate metrics the gate does not bound", "A"): [
        (METRIC, "chicago_taxi", "precision", 0.8), (METRIC, "chicago_taxi", "recall", 0.7),
        (METRIC, "penguins", "macro_f1", 0.96), (METRIC, "penguins", "weighted_f1", 0.97),
        (METRIC, "ames", "mae", 15000),
    ],
    ("Eval examples the candidate was scored on", "A"): [
        (METRIC, "chicago_taxi", "example_count", 3000), (METRIC, "penguins", "example_count", 68),
        (METRIC, "ames", "example_count", 586),
    ],
}  # fmt: skip
TASKS = {"chicago_taxi": "binary", "penguins": "multiclass", "ames": "regression"}


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


def test_the_model_dashboard_shows_each_tasks_metrics_against_its_bounds(debian_tool, tmp_path):
    """promtool evaluates the panels' queries on what the evaluate step pushes for each of the three tasks."""
    input_series = []
    for dataset in EVALUATIONS:
        group = {"job": run_metrics.JOB, "dataset": dataset, "pipeline": "training", "step": "evaluate"}
        for family in evaluation_metrics(dataset, pipeline_run="r1").registry.collect():
            for sample in family.samples:
                input_series.append(
                    {"series": _series(sample.name, {**group, **sample.labels}), "values": f"{sample.value}x3"}
                )
    board = _dashboards()["model-metrics.json"]
    exprs = {
        (panel["title"], target["refId"]): target["expr"] for panel in board["panels"] for target in panel["targets"]
    }
    tests = []
    for key, samples in SHOWN.items():
        expected = []
        for name, dataset, metric, value in samples:
            labels = {"job": run_metrics.JOB, "dataset": dataset, "pipeline": "training", "step": "evaluate"}
            labels |= {"pipeline_run": "r1", "metric": metric, **({"task": TASKS[dataset]} if name == HEADLINE else {})}
            expected.append({"labels": _series(name, labels), "value": value})
        tests.append({"expr": _substituted(exprs[key]), "eval_time": "1m", "exp_samples": expected})
    path = tmp_path / "dashboard_test.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(RULES)],
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": input_series, "promql_expr_test": tests}],
            }
        )
    )
    result = subprocess.run(
        [debian_tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
