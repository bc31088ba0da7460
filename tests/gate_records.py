"""What the evaluate step leaves on a pipeline's MLflow run, recorded without running it, for the tests of push
and of what follows it (push refuses a run whose own gate did not bless its model: components/push/blessing.py).

Importable by its bare name from every test folder: pytest puts tests/, the folder of the root conftest, on
sys.path.
"""

from __future__ import annotations

import json

import mlflow

from components.common import tracking
from components.push.model_card import METRICS_ARTIFACT
from components.runs import step_runs


def record_gate(
    tracking_uri: str,
    pipeline_run_id: str,
    champion_seen: str | None,
    blessed: float | None = 1.0,
    serves: bool | None = True,
) -> str:
    """A finished evaluate step run under the pipeline's run, as evaluate leaves it: the champion it compared the
    candidate with (`champion_seen`: "none" if there was none, None to record none, so that push moves the alias
    whatever the champion) on both runs, its verdict `blessed` (None: the step logged none) on both, and a
    metrics.json the model card can show. A blessed model is then infra-validated (`serves`: whether it passed;
    None: no infra-validate run), which push requires (components/push/blessing.py). Returns the evaluate step
    run's id."""
    if champion_seen is not None:
        tracking.log_pipeline_params(tracking_uri, pipeline_run_id, "evaluate", {"champion_version": champion_seen})
    with step_runs.step_run(tracking_uri, pipeline_run_id, "evaluate") as step:
        if champion_seen is not None:
            mlflow.log_param("champion_version", champion_seen)
        mlflow.log_text(json.dumps(_evaluation(champion_seen, bool(blessed))), METRICS_ARTIFACT)
        if blessed is not None:
            mlflow.log_metric("blessed", blessed)
    if blessed is not None:
        tracking.client(tracking_uri).log_metric(pipeline_run_id, "blessed", blessed)
    if blessed == 1.0 and serves is not None:
        record_infra_validation(tracking_uri, pipeline_run_id, serves)
    return step.info.run_id


def record_infra_validation(tracking_uri: str, pipeline_run_id: str, passed: bool) -> str:
    """A finished infra-validate step run as components/infra_validate/task.py leaves it; returns its id."""
    with step_runs.step_run(tracking_uri, pipeline_run_id, "infra-validate") as step:
        mlflow.log_metric("infra_validated", float(passed))
        if not passed:
            mlflow.log_param("failed_check", "starts")
    return step.info.run_id


def _evaluation(champion_seen: str | None, blessed: bool) -> dict[str, object]:
    """The smallest metrics.json of a binary task the model card renders (components/push/model_card.py)."""
    champion = None if champion_seen in (None, "none") else champion_seen
    return {
        "task": "binary",
        "headline_metric": "roc_auc",
        "headline": {"roc_auc": 0.9, "example_count": 200},
        "table_metrics": ["roc_auc"],
        "higher_is_better": {"roc_auc": True},
        "gate": {"thresholds": {"roc_auc": 0.6}, "champion_tolerance": 0.01},
        "champion": {"version": champion, "metrics": None, "headline": None},
        "prior": {"roc_auc": 0.5},
        "prior_name": "base rate",
        "slices": {},
        "blessed": blessed,
        "reasons": ["recorded by tests/gate_records.py, not scored"],
    }
