from kfp import dsl

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def deploy(
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    model_name: str,
    model_version: str,
    serving_platform: str,
    serving_runtime: str,
    serving_role_arn: str,
    ready_timeout_s: float,
    s3_endpoint_url: str = "",
) -> str:
    """Serve the pushed version on KServe if it became champion; when it is not served and answering its input
    example in time, roll it back and fail (a retry fails again with the first reason)."""
    from components.deploy.task import run_deploy_step

    return run_deploy_step(
        mlflow_tracking_uri,
        mlflow_run_id,
        model_name,
        model_version,
        serving_platform,
        serving_runtime,
        serving_role_arn,
        ready_timeout_s,
        s3_endpoint_url,
    )
