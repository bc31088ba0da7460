"""KFP wrapper of the validate step; the logic lives in components.validate.task."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def validate(
    data_uri: str,
    dataset: str,
    mlflow_tracking_uri: str,
    mlflow_experiment: str,
    pipeline_job_name: str,
    s3_endpoint_url: str,
    report: Output[HTML],
    summary: Output[Artifact],
    train_window: int = 0,
    allow_missing_spans: bool = False,
    data_as_of: str = "",
    scheduled_time: str = "",
) -> NamedTuple(
    "ValidateOutputs",
    [
        ("row_count", int),
        ("mlflow_run_id", str),
        ("data_sha256", str),
        ("data_size", int),
        ("spec_fingerprint", str),
        ("data_as_of", str),
    ],
):
    """Check the raw CSV against the dataset spec and open the pipeline's MLflow run.

    Fails the pipeline on any critical expectation; the HTML report and JSON
    summary are written either way. `data_sha256` and `data_size` pin the bytes
    validated: transform refuses a file whose content differs. A span pattern in `data_uri` reads the
    newest `train_window` spans (components/data/spans.py); `data_as_of` is the day that window ended.
    """
    from pathlib import Path

    from components.data.spans import is_span_pattern, window_end
    from components.validate.task import run_validate_step

    # A span pattern's window ends on DATA_AS_OF, else the scheduled day, else today; handed on to
    # transform so that it resolves the same spans (empty without a pattern: nothing to pin, cache kept).
    at = window_end(data_as_of, scheduled_time) if is_span_pattern(data_uri) else None
    outcome = tuple(
        run_validate_step(
            data_uri,
            dataset,
            mlflow_tracking_uri,
            mlflow_experiment,
            pipeline_job_name,
            Path(report.path),
            Path(summary.path),
            s3_endpoint_url,
            window=train_window or None,
            at=at,
            allow_missing_spans=allow_missing_spans,
        )
    )
    return (*outcome, at.isoformat() if at else "")
