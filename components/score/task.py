"""The scoring pipeline's step: verify the model, validate and stage the input, score on Beam, publish, log.

One MLflow run per scoring run (experiment `<dataset>-scoring` unless named) with two nested runs:
`validate` (the spec's expectations minus the label's, on the accepted rows; the report) and `score`
(the model version, the dataset input, rows scored and rejected, the predictions' distribution as
metrics and a plot, and the task's metrics when the input holds the label). The run fails, and nothing is
published, when the model cannot be verified, a critical expectation fails, or the rejected rows exceed
`max_reject_fraction` of the rows read.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import mlflow
import pandas as pd

from components.common import tracking
from components.common.specs import get_spec
from components.data.images import image_features
from components.data.sources import resolve_source
from components.runs import run_metrics, step_runs
from components.score import lineage, output
from components.score.model import fetch_verified
from components.score.predict import MODEL_NAME, MODEL_VERSION, SCORED_AT, score_parts
from components.score.rows import REASON, ROW_NUMBER, stage_input
from components.validate.raw_file import DataValidationError
from components.validate.report import ValidationSummary, outcome_of, write_outputs
from components.validate.suite import build_suite, run_suite_on_chunks

SCORING_PIPELINE = "scoring"
BATCH_ROWS = 65_536


class TooManyRejectsError(RuntimeError):
    """More rows refused than the run allows: the input is not what the model was trained for."""


@dataclass(frozen=True)
class ScoreResult:
    output_prefix: str
    model_version: str
    rows_scored: int
    rows_rejected: int
    mlflow_run_id: str


def run_score_step(
    data_uri: str,
    dataset: str,
    model_name: str,
    model_version: str,
    output_uri: str,
    tracking_uri: str,
    experiment: str,
    pipeline_job_name: str,
    report_path: Path,
    summary_path: Path,
    max_reject_fraction: float = 0.01,
    beam_runner: str = "DirectRunner",
    beam_flags: tuple[str, ...] = (),
    s3_endpoint_url: str = "",
    batch_rows: int = BATCH_ROWS,
    *,
    window: int | None = None,
    at: date | None = None,
    allow_missing_spans: bool = False,
) -> ScoreResult:
    """Score `data_uri` with `model_version` (empty: the champion) of `model_name` into `output_uri`.

    `window`, `at` and `allow_missing_spans` resolve a span pattern as training does (components/data/spans.py).
    """
    if not 0.0 <= max_reject_fraction <= 1.0:
        raise ValueError(f"max_reject_fraction must be in [0, 1], got {max_reject_fraction}")
    spec = get_spec(dataset)
    run_id = tracking.start_pipeline_run(
        tracking_uri,
        experiment or f"{spec.name}-scoring",
        pipeline_job_name,
        params={"dataset": dataset, "data_uri": data_uri, "model_name": model_name, "output_uri": output_uri},
        tags={tracking.DATASET_TAG: spec.name, run_metrics.PIPELINE_TAG: SCORING_PIPELINE},
    )
    with tempfile.TemporaryDirectory(prefix="score-") as scratch:
        work = Path(scratch)
        with step_runs.step_run(tracking_uri, run_id, "validate") as step:
            model = fetch_verified(tracking_uri, model_name, model_version, work, s3_endpoint_url)
            mlflow.log_params({"model_version": model.version, "model_manifest_sha256": model.manifest_sha256})
            tracking.client(tracking_uri).log_param(run_id, "model_version", model.version)
            source = resolve_source(
                data_uri, window=window, at=at, allow_missing_spans=allow_missing_spans, endpoint_url=s3_endpoint_url
            )
            staged, frames = stage_input(source, spec, work / "input", batch_rows)
            _validate(frames, spec, data_uri, report_path, summary_path)
            lineage.record_scored_source(
                tracking.client(tracking_uri), [run_id, step.info.run_id], source, spec, staged.rows_read
            )
            rejected = staged.rows_rejected
            mlflow.log_metrics({"rows": staged.rows_read, "rows_rejected": rejected})
            if staged.rows_read and rejected / staged.rows_read > max_reject_fraction:
                raise TooManyRejectsError(
                    f"{rejected} of {staged.rows_read} rows refused ({rejected / staged.rows_read:.2%}), over "
                    f"max_reject_fraction {max_reject_fraction:.2%}; first: {_first_reason(staged.rejects)}"
                )
        with step_runs.step_run(tracking_uri, run_id, "score"):
            publish_dir = work / "output"
            meta = {MODEL_NAME: model.name, MODEL_VERSION: model.version, SCORED_AT: pd.Timestamp(datetime.now(UTC))}
            scored = score_parts(
                staged.parts,
                model.local_dir,
                publish_dir / output.PREDICTIONS,
                [ROW_NUMBER, *spec.key_columns],
                meta,
                batch_rows,
                beam_runner,
                beam_flags,
                list(image_features(spec)),
                s3_endpoint_url,
            )
            rejects = pd.concat(staged.rejects or [], ignore_index=True)
            if rejects.empty:
                rejects = pd.DataFrame({ROW_NUMBER: pd.Series(dtype="int64"), REASON: pd.Series(dtype=object)})
            rejects.to_parquet(publish_dir / output.REJECTS, index=False)
            predictions = _outputs(publish_dir / output.PREDICTIONS, spec.key_columns)
            figures = lineage.prediction_summary(predictions, list(predictions.columns))
            logged = {"rows_scored": scored, "rows_rejected": len(rejects), **_prefixed("prediction.", figures)}
            if staged.has_label and scored:
                logged |= _prefixed("label.", lineage.label_metrics(spec, _label_rows(staged.parts), predictions))
            prefix = output.output_prefix(output_uri, model.name, model.version, source.digest().sha256)
            (publish_dir / output.SUMMARY).write_text(
                json.dumps(
                    {
                        "data_uri": data_uri,
                        "input_files": [file.uri for file in source.files],
                        "model_uri": model.model_uri,
                        "output": prefix,
                        **logged,
                    },
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
            output.publish(publish_dir, prefix, s3_endpoint_url)
            mlflow.log_params({"model_name": model.name, "model_version": model.version, "output": prefix})
            mlflow.log_metrics(logged)
            mlflow.log_figure(
                lineage.distribution_figure(predictions, list(predictions.columns)), "scoring/predictions.png"
            )
            mlflow.log_text(json.dumps(figures, indent=2), "scoring/prediction_summary.json")
    step_runs.finish_pipeline_run(tracking_uri, run_id)
    return ScoreResult(prefix, model.version, scored, len(rejects), run_id)


def _validate(frames, spec, data_uri: str, report_path: Path, summary_path: Path) -> ValidationSummary:  # noqa: ANN001
    """The spec's expectations minus the label's on the accepted rows; a critical failure refuses the input."""
    run = run_suite_on_chunks(frames, build_suite(spec, without_label=True))
    outcomes = [outcome_of(result) for result in run.results]
    failed = [outcome for outcome in outcomes if not outcome.success]
    critical = [outcome.describe() for outcome in failed if outcome.severity == "critical"]
    summary = ValidationSummary(
        data_path=data_uri, dataset=spec.name, success=not critical, row_count=run.row_count,
        column_count=len(run.columns), expectations_evaluated=len(outcomes), expectations_failed=len(failed),
        critical_failures=critical, warnings=[o.describe() for o in failed if o.severity != "critical"],
        outcomes=outcomes,
    )  # fmt: skip
    write_outputs(summary, report_path, summary_path)
    mlflow.log_text(report_path.read_text(encoding="utf-8"), "validation/report.html")
    if critical:
        lines = "\n".join(f"  - {failure}" for failure in critical)
        raise DataValidationError(f"{data_uri}: {len(critical)} critical expectation(s) failed:\n{lines}", summary)
    return summary


def _first_reason(rejects: list[pd.DataFrame] | None) -> str:
    found = next((frame for frame in rejects or [] if len(frame)), None)
    return "none" if found is None else f"row {found[ROW_NUMBER].iloc[0]}: {found[REASON].iloc[0]}"


def _outputs(folder: Path, key_columns: tuple[str, ...]) -> pd.DataFrame:
    """The model's outputs of every scored row, in row order (the identifying and run columns left out)."""
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
    frame = frame.sort_values(ROW_NUMBER, kind="stable").reset_index(drop=True)
    return frame.drop(columns=[ROW_NUMBER, *key_columns, MODEL_NAME, MODEL_VERSION, SCORED_AT])


def _label_rows(parts: list[Path]) -> pd.DataFrame:
    frame = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
    return frame.sort_values(ROW_NUMBER, kind="stable").reset_index(drop=True)


def _prefixed(prefix: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{name}": value for name, value in values.items()}
