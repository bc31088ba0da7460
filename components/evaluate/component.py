"""KFP wrapper of the evaluate step; the logic is in components.evaluate.task."""

from typing import Dict

from kfp import dsl
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    eval_data: Input[Dataset],
    dataset: str,
    model_name: str,
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    thresholds: Dict[str, float],
    champion_tolerance: float,
    baseline_margin: float,
    allow_unscored_champion: bool,
    s3_endpoint_url: str,
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[HTML],
) -> bool:
    """Score and explain the eval split, gate (thresholds, prior, champion, slices); returns whether it is blessed.

    `thresholds` maps a metric of the dataset's task to its bound (the task says floor or ceiling).
    The blessing is the single return value (not a named output) because kfp.local
    resolves a dsl.If condition only on a task's single output.
    """
    import tempfile
    from pathlib import Path

    from components.evaluate.report import html_report
    from components.evaluate.task import GateSettings, run_evaluate_step

    with tempfile.TemporaryDirectory(prefix="evaluate-") as output_dir:
        result = run_evaluate_step(
            model_dir=Path(model.path),
            eval_data_path=Path(eval_data.path),
            dataset=dataset,
            tracking_uri=mlflow_tracking_uri,
            pipeline_run_id=mlflow_run_id,
            model_name=model_name,
            settings=GateSettings(
                dict(thresholds),
                champion_tolerance=champion_tolerance,
                baseline_margin=baseline_margin,
                allow_unscored_champion=allow_unscored_champion,
            ),
            output_dir=Path(output_dir),
            s3_endpoint_url=s3_endpoint_url,
        )
        Path(report.path).write_text(
            html_report(
                f"{dataset} evaluation",
                result.task,
                result.metrics,
                result.decision,
                result.plots,
                result.shown.slices,
                result.shown.gaps,
                result.importance,
                worst_images=result.worst_images,
            ),
            encoding="utf-8",
        )
    for name, value in result.metrics.headline().items():
        metrics.log_metric(name, value)
    metrics.log_metric("blessed", float(result.decision.blessed))
    result.task.log_kfp_metrics(result.metrics, classification_metrics)
    return result.decision.blessed
