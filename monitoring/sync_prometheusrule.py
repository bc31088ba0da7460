"""Write k8s/prometheusrule.yaml from prometheus/rules.yml: the same groups, as the operator's PrometheusRule.

prometheus/rules.yml is the file promtool checks and unit-tests; run this (`make monitoring-rules`)
after editing it. tests/monitoring fail while the two differ.
"""

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "prometheus" / "rules.yml"
PROMETHEUS_RULE = HERE / "k8s" / "prometheusrule.yaml"
HEADER = """\
# Generated from monitoring/prometheus/rules.yml by monitoring/sync_prometheusrule.py (make monitoring-rules):
# edit rules.yml, not this file. The `release` label matches kube-prometheus-stack's default ruleSelector.
"""


def prometheus_rule() -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "tabular-mlops",
            "namespace": "monitoring",
            "labels": {"app.kubernetes.io/part-of": "tabular-mlops", "release": "kube-prometheus-stack"},
        },
        "spec": yaml.safe_load(RULES.read_text()),
    }


if __name__ == "__main__":
    PROMETHEUS_RULE.write_text(HEADER + yaml.safe_dump(prometheus_rule(), sort_keys=False, width=120))
    print(f"wrote {PROMETHEUS_RULE}")
