"""KFP wrapper of the drift check; the logic lives in components.monitor.task."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Metrics, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def monitor(
    data_uri: str,
    baseline_uri: str,
    model_name: str,
    mlflow_tracking_uri: str,
    mlflow_experiment: str,
    pipeline_job_name: str,
    retrain_on_drift: bool,
    s3_endpoint_url: str,
    report: Output[HTML],
    drift_summary: Output[Artifact],
    metrics: Output[Metrics],
) -> bool:
    """Compare new data with the training baseline; returns whether to retrain (drift and retrain_on_drift).

    A single bool return, like evaluate's, because kfp.local resolves a dsl.If only on a task's single output.
    The verdict per feature and overall is in `drift_summary` (JSON) and `report` (HTML).
    """
    from pathlib import Path

    from components.monitor.task import run_monitor_step

    result = run_monitor_step(
        data_uri=data_uri,
        baseline_uri=baseline_uri,
        tracking_uri=mlflow_tracking_uri,
        model_name=model_name,
        experiment=mlflow_experiment,
        pipeline_job_name=pipeline_job_name,
        retrain_on_drift=retrain_on_drift,
        report_path=Path(report.path),
        summary_path=Path(drift_summary.path),
        s3_endpoint_url=s3_endpoint_url,
    )
    metrics.log_metric("drifted", float(result.report.drifted))
    metrics.log_metric("drifted_features", float(len(result.report.drifted_features)))
    metrics.log_metric("schema_changes", float(len(result.report.breaking_schema_changes)))
    for feature in result.report.features:
        metrics.log_metric(f"{feature.name}.{feature.statistic}", feature.score)
    return result.trigger_training
