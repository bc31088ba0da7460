"""KFP wrapper of the infra-validate step; the logic is in components.infra_validate.task."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def infra_validate(
    model: Input[Model],
    eval_data: Input[Dataset],
    dataset: str,
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    start_timeout_s: float,
    latency_p99_ms: float,
    s3_endpoint_url: str = "",
) -> bool:
    """Start the candidate's MLflow model in the serving runtime (a process of this image, the serving image, on
    a loopback port) and check that it serves; returns whether it passed (push runs only then).

    The verdict is the single return value because kfp.local resolves a dsl.If condition only on a task's
    single output. `s3_endpoint_url` (empty: AWS, or MLFLOW_S3_ENDPOINT_URL) is where MLflow's artifacts are.
    """
    import os
    from pathlib import Path

    from components.infra_validate.task import InfraSettings, run_infra_validate_step

    if s3_endpoint_url:
        os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", s3_endpoint_url)
    result = run_infra_validate_step(
        model_dir=Path(model.path),
        eval_data_path=Path(eval_data.path),
        dataset=dataset,
        tracking_uri=mlflow_tracking_uri,
        pipeline_run_id=mlflow_run_id,
        settings=InfraSettings(start_timeout_s=start_timeout_s, latency_p99_ms=latency_p99_ms),
    )
    return result.passed
