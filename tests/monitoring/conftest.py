"""Fixtures of the monitoring tests: the penguins files, a finished pipeline run in a fresh MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.entities import Run
from monitoring_support import PENGUINS

from components.common import tracking


@pytest.fixture(scope="session")
def penguins() -> Path:
    if not (PENGUINS / "penguins_processed.csv").exists():
        pytest.skip(f"the penguins files are not in {PENGUINS} (they sit beside the project in shared/)")
    return PENGUINS


@pytest.fixture
def finished_run(tmp_mlflow_uri: str) -> Run:
    """A pipeline's MLflow run that blessed a model and finished."""
    run_id = tracking.start_pipeline_run(tmp_mlflow_uri, "taxi-training", "job-1", {}, {tracking.DATASET_TAG: "taxi"})
    client = tracking.client(tmp_mlflow_uri)
    client.log_metric(run_id, "blessed", 1.0)
    client.set_terminated(run_id, "FINISHED")
    return client.get_run(run_id)
