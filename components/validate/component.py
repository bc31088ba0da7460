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
) -> NamedTuple(
    "ValidateOutputs",
    [("row_count", int), ("mlflow_run_id", str), ("data_sha256", str), ("data_size", int), ("spec_fingerprint", str)],
):
    """Check the raw CSV against the dataset spec and open the pipeline's MLflow run.

    Fails the pipeline on any critical expectation; the HTML report and JSON
    summary are written either way. `data_sha256` and `data_size` pin the bytes
    validated: transform refuses a file whose content differs.
    """
    from pathlib import Path

    from components.validate.task import run_validate_step

    return tuple(
        run_validate_step(
            data_uri,
            dataset,
            mlflow_tracking_uri,
            mlflow_experiment,
            pipeline_job_name,
            Path(report.path),
            Path(summary.path),
            s3_endpoint_url,
        )
    )
