"""Extra run where the Chicago taxi file is beside the project: 18 columns, missing values, timestamps, lat/long.

The bundled-data module (test_local_pipeline.py) holds the gate, reproducibility and bad-input tests; this
one checks that a wide real file goes through, is blessed against its prior, and learned the known signal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import TAXI_CSV, Workspace, score_variants

from pipelines.arguments import Overrides
from pipelines.local_runner import run_locally
from pipelines.summary import RunSummary

pytestmark = pytest.mark.e2e

# Two epochs keep the test short; the bounds sit well under what two epochs reach (~0.94) and above the
# prior (22.5% big tippers: accuracy 0.775, log loss 0.53).
QUICK = dict(epochs=2, thresholds={"roc_auc": 0.9, "accuracy": 0.85, "log_loss": 0.4})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("e2e-taxi"), "chicago_taxi", TAXI_CSV)


@pytest.fixture(scope="module")
def first_run(workspace) -> RunSummary:
    return run_locally(workspace.settings(), Overrides(**QUICK))


def test_the_taxi_file_is_validated_trained_blessed_and_pushed(first_run, workspace):
    assert first_run.status == "FINISHED" and first_run.blessed, first_run.gate_reasons
    assert first_run.rows_validated == 15002
    assert first_run.metrics["roc_auc"] >= QUICK["thresholds"]["roc_auc"]
    assert workspace.champion().version == first_run.model_version
    assert Path(first_run.store_uri.removeprefix("file://"), "saved_model.pb").is_file()


def test_pushed_model_scores_card_payers_above_cash_payers(first_run):
    # The same trip paid by credit card and by cash: card payers record tips, so they score higher.
    model_dir = first_run.store_uri.removeprefix("file://")
    probability = score_variants(model_dir, TAXI_CSV, 1, "payment_type", ("Credit Card", "Cash"))
    assert probability.shape == (2,) and ((0 <= probability) & (probability <= 1)).all()
    assert probability[0] > probability[1] + 0.2
