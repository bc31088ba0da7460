"""The same verbs against a real Kubeflow Pipelines at KFP_HOST (e.g. minikube); skipped unless it is set.

    KFP_HOST=http://127.0.0.1:8080 .venv/bin/pytest -m cluster

Deploys the current commit's version (as `make deploy-pipeline` would), then schedules and unschedules a
recurring run in a separate experiment, so a real retraining schedule is left alone. Nothing is run.
"""

from __future__ import annotations

import os

import kfp
import pytest

from components.common.images import image_version
from pipelines.__main__ import main
from pipelines.deployables import PIPELINES
from pipelines.remote import Target, connect, find_experiment, find_pipeline, find_version

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("KFP_HOST"), reason="set KFP_HOST to a real Kubeflow Pipelines API"),
]
EXPERIMENT = "tabular-training-cluster-test"
TRAINING = PIPELINES["training"]
RECURRING_RUN_NAME = TRAINING.recurring_run_name
# Placeholders for the scheduled run's parameters: the schedule is removed before it ever fires.
PLACEHOLDERS = {
    "DATA_URI": "s3://tabular-mlops-cluster-test/data.csv",
    "MODEL_STORE_URI": "s3://tabular-mlops-cluster-test/models",
    "MLFLOW_TRACKING_URI": "http://mlflow.kubeflow.svc:5000",
}


@pytest.fixture
def client(monkeypatch) -> kfp.Client:
    for name, value in PLACEHOLDERS.items():
        if not os.environ.get(name) or "://" not in os.environ[name]:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("KFP_EXPERIMENT", EXPERIMENT)
    return connect(Target(os.environ["KFP_HOST"], os.environ.get("KFP_NAMESPACE"), os.environ.get("KFP_TOKEN")))


def test_deploy_is_idempotent_and_schedule_replaces(client, tmp_path, capsys):
    namespace = os.environ.get("KFP_NAMESPACE")
    assert main(["deploy", "--output", str(tmp_path / "pipeline.yaml")]) == 0
    assert main(["deploy", "--output", str(tmp_path / "pipeline.yaml")]) == 0
    assert "already deployed, nothing uploaded" in capsys.readouterr().out
    pipeline_id = find_pipeline(client, TRAINING.name, namespace)
    assert pipeline_id is not None
    assert find_version(client, pipeline_id, image_version()) is not None

    try:
        assert main(["schedule", "--cron", "0 3 1 1 *"]) == 0
        assert main(["schedule", "--cron", "0 4 1 1 *"]) == 0
        experiment_id = find_experiment(client, EXPERIMENT, namespace)
        runs = client.list_recurring_runs(experiment_id=experiment_id, page_size=100).recurring_runs or []
        scheduled = [run for run in runs if run.display_name == RECURRING_RUN_NAME]
        assert len(scheduled) == 1 and scheduled[0].trigger.cron_schedule.cron == "0 0 4 1 1 *"
        assert scheduled[0].max_concurrency == "1" and scheduled[0].no_catchup is True
    finally:
        assert main(["unschedule"]) == 0
    runs = client.list_recurring_runs(experiment_id=experiment_id, page_size=100).recurring_runs or []
    assert not [run for run in runs if run.display_name == RECURRING_RUN_NAME]
