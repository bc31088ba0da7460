"""Prometheus rules: promtool checks and unit-tests them, every alert has a test, the operator's copy matches."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from monitoring_support import MONITORING, PROJECT_METRIC, RULES, RULES_TEST, emitted_metric_names

pytestmark = pytest.mark.monitoring


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def _promtool(debian_tool, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [debian_tool("promtool"), *arguments], capture_output=True, text=True, timeout=120, cwd=RULES.parent
    )


def test_promtool_checks_the_rules(debian_tool):
    result = _promtool(debian_tool, "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass(debian_tool):
    result = _promtool(debian_tool, "test", "rules", RULES_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not():
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    fired = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert alerts - fired == set(), f"alerts no unit test fires: {sorted(alerts - fired)}"
    assert alerts - quiet == set(), f"alerts no unit test keeps quiet: {sorted(alerts - quiet)}"
    assert {"PipelineRunFailed", "NoSuccessfulTraining", "ValidationFailures", "DataDriftDetected"} <= alerts
    assert {"ModelMetricBelowFloor", "GPUPodsPendingWithNoGPUNodes"} <= alerts


def test_every_alert_says_what_happened_and_how_bad():
    for rule in _rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_rules_name_only_metrics_the_code_emits(finished_run, installed_penguins):
    emitted = emitted_metric_names(finished_run, installed_penguins)
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    for rule in _rules():
        for name in PROJECT_METRIC.findall(rule["expr"]):
            assert name in emitted | recorded, f"{rule.get('alert') or rule['record']}: {name} is never emitted"


def test_the_operators_prometheusrule_holds_the_same_groups():
    prometheus_rule = yaml.safe_load((MONITORING / "k8s" / "prometheusrule.yaml").read_text())
    assert prometheus_rule["kind"] == "PrometheusRule"
    assert prometheus_rule["spec"] == yaml.safe_load(RULES.read_text()), (
        "monitoring/k8s/prometheusrule.yaml differs from monitoring/prometheus/rules.yml: run `make monitoring-rules`"
    )
