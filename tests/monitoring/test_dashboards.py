"""Grafana dashboards: they parse, every panel queries, and every query names metrics the code emits."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from monitoring_support import DASHBOARDS, PROJECT_METRIC, RULES, emitted_metric_names

pytestmark = pytest.mark.monitoring

# Grafana's variables, replaced by something PromQL accepts before promtool parses a query.
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d", "$dataset": ".*"}


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


def test_every_query_is_valid_promql(debian_tool, tmp_path):
    """promtool parses each query, as the expression of a recording rule."""
    rules = []
    for number, (_, _, expr) in enumerate(_queries()):
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
        rules.append({"record": f"dashboard_query_{number}", "expr": expr})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [debian_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
