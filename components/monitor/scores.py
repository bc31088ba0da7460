"""The drift check of a batch scoring output (`make score`): its input and its predictions against training.

A scoring output holds each row's keys and the model's answers, not its features (they would double what
every run writes). So the input is read again, through the one reader, from the files the scoring run
recorded in its summary, and must hash to the digest that the output's prefix names: the very input
scored, unchanged since. The input is compared with the training baseline; the predictions, made the
task's (components/data/prediction_baseline.py), with the prediction baseline evaluate saved on the
training run of the version that scored them. One report holds both. An output without its manifest (an
unfinished write) is refused, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from components.common import tracking
from components.common.specs import get_spec
from components.data.baseline import BASELINE_ARTIFACT, Baseline
from components.data.prediction_baseline import PREDICTION_BASELINE_ARTIFACT, prediction_frame
from components.data.sources import DataSource, resolve_source
from components.monitor.drift import DriftReport, DriftThresholds, compare
from components.score.lineage import output_matrix
from components.score.output import read_output
from components.score.predict import MODEL_NAME, MODEL_VERSION, SCORED_AT
from components.score.rows import ROW_NUMBER
from components.tasks import task_of


@dataclass(frozen=True)
class ScoringOutput:
    """A finished scoring output: the input it scored, the task's predictions, the scoring version's baselines."""

    prefix: str
    model_name: str
    model_version: str
    source: DataSource
    predictions: pd.DataFrame
    baseline: Baseline
    prediction_baseline: Baseline

    def describe(self) -> str:
        return f"{self.prefix} ({self.model_name} version {self.model_version} on {self.source.data_uri})"


def run_baseline(tracking_uri: str, run_id: str, artifact: str, where: str, scratch: Path) -> Baseline:
    """The baseline saved as `artifact` on MLflow run `run_id`; `where` names its model version in errors."""
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact, dst_path=str(scratch), tracking_uri=tracking_uri
        )
    except (MlflowException, OSError) as error:
        raise ValueError(f"{where} has no {artifact} (trained before it was saved?): {error}") from None
    return Baseline.from_json(Path(path).read_text(encoding="utf-8"), f"{where}: {artifact}")


def read_scoring_output(prefix: str, tracking_uri: str, scratch: Path, endpoint_url: str = "") -> ScoringOutput:
    """The output at `prefix`, checked against its manifest, with its model version's two baselines."""
    frame, _, summary = read_output(prefix, endpoint_url)
    if frame.empty:
        raise ValueError(f"{prefix}: no rows were scored, so there is nothing to compare")
    versions = frame[[MODEL_NAME, MODEL_VERSION]].drop_duplicates()
    if len(versions) != 1:
        raise ValueError(f"{prefix}: rows scored by {len(versions)} model versions; expected one run's output")
    name, version = (str(value) for value in versions.iloc[0])
    where = f"{name} version {version}"
    try:
        run_id = tracking.client(tracking_uri).get_model_version(name, version).run_id
    except MlflowException as error:
        raise ValueError(f"{prefix}: scored by {where}, which {tracking_uri} does not know ({error.message})") from None
    where = f"{where} (MLflow run {run_id})"
    baseline = run_baseline(tracking_uri, run_id, BASELINE_ARTIFACT, where, scratch)
    predictions = run_baseline(tracking_uri, run_id, PREDICTION_BASELINE_ARTIFACT, where, scratch)
    spec = get_spec(baseline.dataset)
    task = task_of(spec)
    skip = {ROW_NUMBER, *spec.key_columns, MODEL_NAME, MODEL_VERSION, SCORED_AT}
    return ScoringOutput(
        prefix=prefix,
        model_name=name,
        model_version=version,
        source=_scored_input(prefix, summary, endpoint_url),
        predictions=prediction_frame(task, _task_predictions(task, frame, skip)),
        baseline=replace(baseline, source=f"{where}, trained on {baseline.source}"),
        prediction_baseline=replace(predictions, source=f"{where}'s predictions on {predictions.source}"),
    )


def _scored_input(prefix: str, summary: dict, endpoint_url: str) -> DataSource:
    """The files the scoring run read (its summary's `input_files`, else its `data_uri`), unchanged since."""
    data_uri = summary.get("data_uri")
    if not data_uri:
        raise ValueError(f"{prefix}: its summary.json names no data_uri, so its input cannot be read again")
    found = [resolve_source(uri, endpoint_url=endpoint_url) for uri in summary.get("input_files") or [data_uri]]
    files = tuple(file for source in found for file in source.files)
    source = DataSource(data_uri, found[0].format, files, endpoint_url=endpoint_url)
    scored = PurePosixPath(str(summary.get("output") or prefix).rstrip("/")).name
    if not source.digest().sha256.startswith(scored):
        raise ValueError(
            f"{prefix}: its input {data_uri} changed since it was scored (its files' digest is now "
            f"{source.digest().sha256[:16]}, the output names {scored}); score it again"
        )
    return source


def _task_predictions(task, frame: pd.DataFrame, skip: set[str]) -> np.ndarray:  # noqa: ANN001 (a Task)
    """The task's predictions from the output's answer columns, as evaluate takes them from the model."""
    outputs = {}
    for name in frame.columns:
        if name in skip:
            continue
        try:
            outputs[name] = output_matrix(frame[name])
        except (TypeError, ValueError):  # a text answer (a class name) is not a distribution of numbers
            continue
    return task.predictions(outputs, len(frame))


def scoring_report(
    baseline: Baseline, data: pd.DataFrame, scored: ScoringOutput, thresholds: DriftThresholds
) -> DriftReport:
    """The input's drift against `baseline` and the predictions' against the version's, as one report."""
    inputs = compare(baseline, data, scored.source.data_uri, thresholds)
    answers = compare(scored.prediction_baseline, scored.predictions, scored.prefix, thresholds)
    return DriftReport(
        dataset=baseline.dataset,
        baseline_source=f"{baseline.source}; predictions: {scored.prediction_baseline.source}",
        data_source=scored.describe(),
        baseline_rows=baseline.row_count,
        rows=inputs.rows,
        thresholds=thresholds,
        features=inputs.features + answers.features,
        schema_changes=inputs.schema_changes + answers.schema_changes,
    )
