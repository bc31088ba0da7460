"""The whole pipeline on an S3-compatible store (moto on 127.0.0.1) that only the run's settings name.

The `s3_endpoint` fixture clears AWS_ENDPOINT_URL and MLFLOW_S3_ENDPOINT_URL from the environment, and
the endpoint goes into the settings dict alone, so the steps kfp.local starts can reach the store only
through the `s3_endpoint_url` run parameter: validate and transform read the data, push writes the model,
and the drift check reads new data. (Evaluate fetching an S3 champion through the same parameter is in
tests/unit/test_evaluate.py.)
"""

from __future__ import annotations

import boto3
import pytest

from components.runs.settings import Settings
from pipelines.arguments import Overrides
from pipelines.datasets import materialize_dataset
from pipelines.local_runner import run_locally
from pipelines.monitoring_runner import run_monitoring_locally

pytestmark = pytest.mark.e2e

QUICK = Overrides(epochs=3, thresholds={"roc_auc": 0.7, "accuracy": 0.86, "log_loss": 0.38})


def test_every_step_reaches_the_store_through_the_run_parameter(s3_endpoint, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="lake")
    data = materialize_dataset("mlc_churn", tmp_path / "mlc_churn.csv")
    s3.upload_file(str(data), "lake", "raw/mlc_churn.csv")
    settings = Settings.from_env(
        {
            "DATASET": "mlc_churn",
            "DATA_URI": "s3://lake/raw/mlc_churn.csv",
            "MODEL_STORE_URI": "s3://lake/models",
            "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
            "VARIANTS": "none",
            "PIPELINE_ROOT": str(tmp_path / "kfp"),
        }
    )

    first = run_locally(settings, QUICK)
    assert first.blessed and first.store_uri.startswith("s3://lake/models/mlc_churn-classifier/")
    key = first.store_uri.removeprefix("s3://lake/") + "/saved_model.pb"
    assert s3.head_object(Bucket="lake", Key=key)["ContentLength"] > 0

    outcome = run_monitoring_locally(settings, "", False, None, tmp_path / "drift")
    assert not outcome.drifted, outcome.verdict
