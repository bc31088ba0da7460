"""Batch scoring under kfp.local with a real champion: penguins trained by the training pipeline, then its
bundled file scored with and without the label. The Parquet output equals the pyfunc model's answers on the
same rows, each refused row is named with its reason, the MLflow run records the lineage, and a run over
its reject bound publishes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from e2e_support import Workspace

from components.common import tracking
from components.runs.run_metrics import PIPELINE_TAG
from components.score.lineage import output_matrix
from components.score.output import read_scores
from pipelines.scoring_runner import ScoringOptions, run_scoring_locally

pytestmark = pytest.mark.e2e

BAD_ROWS = {3: ("bill_length_mm", "99.5"), 10: ("sex", "unknown")}
REASONS = {
    3: "column 'bill_length_mm': 99.5 is outside [25.0, 70.0]",
    10: "column 'sex': unknown is not one of the allowed values",
}


@pytest.fixture(scope="module")
def trained(penguins_champion) -> tuple[Workspace, str]:
    workspace, summary = penguins_champion  # tests/e2e/conftest.py: shared with test_tasks
    assert summary.blessed and summary.model_version, summary.gate_reasons
    return workspace, str(summary.model_version)


def _with_bad_rows(source: Path, target: Path, label: bool) -> Path:
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    for row, (column, value) in BAD_ROWS.items():
        frame.loc[row, column] = value
    (frame if label else frame.drop(columns=["species"])).to_csv(target, index=False)
    return target


def _scoring_run(workspace: Workspace, experiment_run_id: str):
    client = tracking.client(workspace.settings().mlflow_tracking_uri)
    parent = client.get_run(experiment_run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{experiment_run_id}'")
    return parent, {child.data.tags["step"]: child for child in children}


def test_scoring_a_file_without_its_label_equals_pyfunc_and_records_its_lineage(trained, tmp_path):
    workspace, version = trained
    data = _with_bad_rows(workspace.data, tmp_path / "unlabelled.csv", label=False)
    settings = workspace.settings(data)
    outcome = run_scoring_locally(settings, ScoringOptions(output_uri=str(tmp_path / "scores")), tmp_path / "report")
    assert outcome.output_prefix.startswith(f"{tmp_path}/scores/{settings.model_name}/v{version}/")
    predictions, rejects = read_scores(outcome.output_prefix)

    # Every input row is either scored or rejected with its reason, once.
    rows = len(pd.read_csv(data))
    assert len(predictions) == rows - len(BAD_ROWS)
    assert dict(zip(rejects["row_number"], rejects["reason"])) == REASONS
    assert sorted([*predictions["row_number"], *rejects["row_number"]]) == list(range(rows))
    assert set(predictions["model_version"]) == {version} and set(predictions["model_name"]) == {settings.model_name}
    assert predictions["scored_at"].nunique() == 1

    # The same rows through mlflow.pyfunc, as a user would load the registered version.
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
    raw = pd.read_csv(data).iloc[predictions["row_number"]].reset_index(drop=True)
    expected = model.predict(raw[model.metadata.get_input_schema().input_names()])
    for name in expected.columns:
        got, want = predictions[name], expected[name]
        if name == "class":
            assert got.tolist() == want.tolist()
        else:
            np.testing.assert_allclose(output_matrix(got), output_matrix(want), rtol=0, atol=1e-6)

    # Lineage: the pipeline's run names the model version; its steps the data, the counts, the distribution.
    assert json.loads(Path(outcome.summary).read_text())["success"]
    written = json.loads((Path(outcome.output_prefix) / "summary.json").read_text())
    assert written["rows_scored"] == rows - len(BAD_ROWS) and written["model_uri"].endswith(f"/{version}")
    client = tracking.client(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("penguins-scoring")
    (parent,) = client.search_runs([experiment.experiment_id], f"tags.{PIPELINE_TAG} = 'scoring'")
    assert parent.info.status == "FINISHED" and parent.data.params["model_version"] == version
    _, steps = _scoring_run(workspace, parent.info.run_id)
    score = steps["score"]
    assert score.data.params["model_version"] == version and score.data.params["output"] == outcome.output_prefix
    assert score.data.metrics["rows_scored"] == rows - len(BAD_ROWS)
    assert score.data.metrics["rows_rejected"] == len(BAD_ROWS)
    assert 0.0 <= score.data.metrics["prediction.probabilities.0.mean"] <= 1.0
    artifacts = {item.path for item in client.list_artifacts(score.info.run_id, "scoring")}
    assert artifacts == {"scoring/predictions.png", "scoring/prediction_summary.json"}
    assert not any(name.startswith("label.") for name in score.data.metrics)  # no label, no metrics of it
    validate = steps["validate"]
    assert validate.data.params["model_version"] == version
    assert validate.inputs.dataset_inputs, "the scored data is the run's dataset input"


def test_scoring_with_the_label_logs_the_tasks_metrics_and_a_rerun_replaces_the_output(trained, tmp_path):
    workspace, version = trained
    data = _with_bad_rows(workspace.data, tmp_path / "labelled.csv", label=True)
    options = ScoringOptions(output_uri=str(tmp_path / "scores"))
    first = run_scoring_locally(workspace.settings(data), options, tmp_path / "report")
    second = run_scoring_locally(workspace.settings(data), options, tmp_path / "report")
    assert first.output_prefix == second.output_prefix  # the same input and version: one output, replaced
    predictions, _ = read_scores(second.output_prefix)
    assert len(predictions) == len(pd.read_csv(data)) - len(BAD_ROWS)
    client = tracking.client(workspace.settings().mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("penguins-scoring")
    scores = client.search_runs([experiment.experiment_id], "tags.step = 'score'", order_by=["start_time DESC"])
    assert scores[0].data.metrics["label.accuracy"] >= 0.85  # delayed ground truth: the champion on these rows


def test_more_rejects_than_allowed_fail_the_run_and_publish_nothing(trained, tmp_path):
    workspace, _ = trained
    data = _with_bad_rows(workspace.data, tmp_path / "unlabelled.csv", label=False)
    options = ScoringOptions(output_uri=str(tmp_path / "scores"), max_reject_fraction=0.001)
    with pytest.raises(RuntimeError):
        run_scoring_locally(workspace.settings(data), options, tmp_path / "report")
    assert not (tmp_path / "scores").exists()
    client = tracking.client(workspace.settings().mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("penguins-scoring")
    failed = client.search_runs([experiment.experiment_id], "attributes.status = 'FAILED'")
    assert any("over max_reject_fraction 0.10%" in run.data.tags.get(tracking.ERROR_TAG, "") for run in failed)
