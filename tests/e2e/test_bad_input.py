"""Bad input files under kfp.local: each fails at validate, says what and where, and changes nothing.

On mlc_churn's bundled file, beside a champion already registered and in the model store (pushed by the
push step's own code: what matters is that a refused run leaves it, the versions and the store as they were).
Split from test_local_pipeline.py so that the two halves can run on two test processes at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import Workspace, drop_column, repeat_column, rewrite, set_column
from gate_records import record_gate

from components.common import tracking
from components.push.task import push_model
from pipelines.arguments import Overrides
from pipelines.datasets import materialize_dataset
from pipelines.local_runner import PipelineFailed, run_locally

pytestmark = pytest.mark.e2e

DATASET, ROWS = "mlc_churn", 5000
QUICK = dict(epochs=3, thresholds={"roc_auc": 0.7, "accuracy": 0.86, "log_loss": 0.38})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, saved_model) -> Workspace:
    root = tmp_path_factory.mktemp("e2e-bad-input")
    workspace = Workspace(root, DATASET, materialize_dataset(DATASET, root / "data" / f"{DATASET}.csv"))
    settings = workspace.settings()
    uri = settings.mlflow_tracking_uri
    run_id = tracking.start_pipeline_run(uri, settings.mlflow_experiment, "job-champion", {"epochs": 1})
    record_gate(uri, run_id, "none")
    pushed = push_model(saved_model, settings.model_store_uri, settings.model_name, uri, run_id)
    assert pushed.champion and workspace.store_files()
    return workspace


def _edited(edit):
    return lambda source, target: rewrite(source, target, edit)


def _empty_file(source: Path, target: Path) -> Path:
    target.write_bytes(b"")
    return target


def _truncated_last_line(source: Path, target: Path) -> Path:
    data = source.read_bytes().rstrip(b"\n")
    target.write_bytes(data[: data.rfind(b",", 0, len(data) - 20)])
    return target


def _non_utf8(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    position = data.index(b"area_code_415")
    target.write_bytes(data[:position] + b"area_\xff\xfe_415" + data[position + len(b"area_code_415") :])
    return target


def _quoted_line_break(source: Path, target: Path) -> Path:
    return rewrite(source, target, set_column("state", "Kansas\nCity", every=1000))


BAD_INPUTS = {
    "missing_column": (_edited(drop_column("international_plan")), ["international_plan"]),
    "wrong_type": (_edited(set_column("total_day_minutes", "about three", every=10)), ["total_day_minutes", "type"]),
    "empty_file": (_empty_file, ["empty"]),
    "entirely_null": (_edited(set_column("account_length", "")), ["account_length", "null"]),
    "out_of_range": (
        _edited(set_column("number_customer_service_calls", "150", every=5)),
        ["number_customer_service_calls", "between 0 and 100"],
    ),
    "unseen_category": (
        _edited(set_column("area_code", "area_code_999", every=10, first=3)),
        ["area_code", "30.0% not in the set"],
    ),
    "truncated_last_line": (_truncated_last_line, [f"line {ROWS + 1}", "fields"]),
    "non_utf8": (_non_utf8, ["UTF-8", "line"]),
    "quoted_line_break": (_quoted_line_break, ["line 2", "holds a line break"]),
    "repeated_column": (_edited(repeat_column("total_day_minutes")), ["'total_day_minutes' at fields 7, 17"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_at_validate_and_changes_nothing(case, workspace, tmp_path):
    make, expected_words = BAD_INPUTS[case]
    data = make(workspace.data, tmp_path / f"{case}.csv")
    champion, versions, store = workspace.champion().version, len(workspace.versions()), workspace.store_files()
    with pytest.raises(PipelineFailed) as failure:
        run_locally(workspace.settings(data), Overrides(**QUICK))
    summary = failure.value.summary
    assert summary is not None and summary.status == "FAILED"
    assert summary.steps == {"validate": "FAILED"}
    message = str(failure.value)
    assert message.startswith("validate: ") and str(data) in message
    for word in expected_words:
        assert word in message, f"{word!r} not in: {message}"
    assert workspace.champion().version == champion
    assert len(workspace.versions()) == versions
    assert workspace.store_files() == store
