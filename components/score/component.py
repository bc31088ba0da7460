"""KFP wrapper of the scoring step; the logic lives in components.score.task."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def score(
    data_uri: str,
    dataset: str,
    model_name: str,
    model_version: str,
    output_uri: str,
    mlflow_tracking_uri: str,
    mlflow_experiment: str,
    pipeline_job_name: str,
    s3_endpoint_url: str,
    report: Output[HTML],
    summary: Output[Artifact],
    max_reject_fraction: float = 0.01,
    beam_runner: str = "DirectRunner",
    beam_options: str = "[]",
    train_window: int = 0,
    allow_missing_spans: bool = False,
    data_as_of: str = "",
    scheduled_time: str = "",
) -> NamedTuple(
    "ScoreOutputs",
    [("output_prefix", str), ("model_version", str), ("rows_scored", int), ("rows_rejected", int),
     ("mlflow_run_id", str)],
):  # fmt: skip
    """Score the rows of `data_uri` with the champion (or `model_version`) of `model_name`, batched on Beam.

    The output (Parquet predictions, rejects, summary) appears under `output_prefix` whole or not at all;
    `report` and `summary` are the input's validation against the spec's expectations minus the label's.
    """
    from pathlib import Path

    from components.data.spans import is_span_pattern, window_end
    from components.score.task import run_score_step
    from components.transform.task import beam_flags

    at = window_end(data_as_of, scheduled_time) if is_span_pattern(data_uri) else None
    result = run_score_step(
        data_uri=data_uri,
        dataset=dataset,
        model_name=model_name,
        model_version=model_version,
        output_uri=output_uri,
        tracking_uri=mlflow_tracking_uri,
        experiment=mlflow_experiment,
        pipeline_job_name=pipeline_job_name,
        report_path=Path(report.path),
        summary_path=Path(summary.path),
        max_reject_fraction=max_reject_fraction,
        beam_runner=beam_runner,
        beam_flags=tuple(beam_flags(beam_options, s3_endpoint_url)),
        s3_endpoint_url=s3_endpoint_url,
        window=train_window or None,
        at=at,
        allow_missing_spans=allow_missing_spans,
    )
    return (result.output_prefix, result.model_version, result.rows_scored, result.rows_rejected,
            result.mlflow_run_id)  # fmt: skip
