"""What several end-to-end modules share.

The Chicago taxi runs are extra runs on a file that exists beside the project on developer machines only.
Where it is absent the module is not collected at all: every test that is collected runs.
"""

from __future__ import annotations

import pytest
from e2e_support import TAXI_CSV, Workspace

from pipelines.arguments import Overrides
from pipelines.datasets import materialize_dataset
from pipelines.local_runner import run_locally
from pipelines.summary import RunSummary

collect_ignore = [] if TAXI_CSV.is_file() else ["test_chicago_taxi.py"]


@pytest.fixture(scope="session")
def penguins_champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, RunSummary]:
    """penguins trained by the training pipeline (25 epochs) into a workspace of its own, once per test process:
    test_tasks and test_scoring both start from its champion. A test that registers versions works on a copy."""
    root = tmp_path_factory.mktemp("penguins")
    workspace = Workspace(root, "penguins", materialize_dataset("penguins", root / "data" / "penguins.csv"))
    return workspace, run_locally(workspace.settings(), Overrides(epochs=25))
