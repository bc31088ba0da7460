"""A candidate that learned nothing for one slice is refused by the spec's slice gate, which names the slice.

The bundled mlc_churn data with the churn label shuffled among the customers of one area code only: the
model still learns the other area codes, so overall it does well enough, but within area_code_510 its
ranking is chance. The run's absolute bounds are off, so the slice gate (and the prior rule) decide.
"""

from __future__ import annotations

import pytest
from e2e_support import Workspace, rewrite, shuffle_column

from components.common.specs import get_spec
from pipelines.arguments import Overrides
from pipelines.datasets import materialize_dataset
from pipelines.local_runner import run_locally

pytestmark = pytest.mark.e2e

DATASET, SLICE_COLUMN, SLICE_VALUE = "mlc_churn", "area_code", "area_code_510"
BOUNDS_OFF = Overrides(epochs=3, thresholds={"roc_auc": None, "accuracy": None, "log_loss": None})


def test_the_spec_gates_the_slice_this_test_breaks():
    slice_gate = get_spec(DATASET).slice_gate
    assert slice_gate is not None and SLICE_COLUMN in slice_gate.columns


def test_a_candidate_much_worse_on_one_slice_is_refused_naming_it(tmp_path):
    clean = materialize_dataset(DATASET, tmp_path / "data" / f"{DATASET}.csv")
    broken = rewrite(
        clean, tmp_path / "data" / "one-slice-shuffled.csv", shuffle_column("churn", within=(SLICE_COLUMN, SLICE_VALUE))
    )
    workspace = Workspace(tmp_path / "workspace", DATASET, broken)

    summary = run_locally(workspace.settings(), BOUNDS_OFF)

    assert summary.status == "FINISHED" and summary.blessed is False, summary.gate_reasons
    assert summary.model_version is None
    failures = [reason for reason in summary.gate_reasons if reason.startswith("FAIL")]
    slice_key = f"{SLICE_COLUMN}={SLICE_VALUE}"
    assert f"FAIL: slice {slice_key} roc_auc" in "\n".join(failures), summary.gate_reasons
    assert any(f"across {SLICE_COLUMN}" in reason and f"worst {slice_key}" in reason for reason in failures)
    # Nothing else failed: the model is fine overall and on the other area codes.
    assert all(slice_key in reason for reason in failures), failures
    assert any(reason.startswith("PASS: slice area_code=area_code_408") for reason in summary.gate_reasons)
