"""KFP wrapper of the evaluate step; the logic is in components.evaluate.task."""

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
    min_roc_auc: float,
    min_accuracy: float,
    max_log_loss: float,
    champion_tolerance: float,
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[HTML],
) -> bool:
    """Score the eval split, gate against thresholds and the champion; returns whether the model is blessed.

    The blessing is the single return value (not a named output) because kfp.local
    resolves a dsl.If condition only on a task's single output.
    """
    import tempfile
    from pathlib import Path

    from components.evaluate.metrics import Thresholds
    from components.evaluate.report import html_report
    from components.evaluate.task import run_evaluate_step

    with tempfile.TemporaryDirectory(prefix="evaluate-") as output_dir:
        result = run_evaluate_step(
            model_dir=Path(model.path),
            eval_data_path=Path(eval_data.path),
            dataset=dataset,
            tracking_uri=mlflow_tracking_uri,
            pipeline_run_id=mlflow_run_id,
            model_name=model_name,
            thresholds=Thresholds(min_roc_auc, min_accuracy, max_log_loss),
            tolerance=champion_tolerance,
            output_dir=Path(output_dir),
        )
        Path(report.path).write_text(
            html_report(f"{dataset} evaluation", result.metrics, result.decision, result.plots, result.slices),
            encoding="utf-8",
        )
    for name, value in result.metrics.headline().items():
        metrics.log_metric(name, value)
    metrics.log_metric("blessed", float(result.decision.blessed))
    if result.metrics.roc is not None:
        roc = result.metrics.roc
        classification_metrics.log_roc_curve(roc.fpr, roc.tpr, roc.thresholds)
    classification_metrics.log_confusion_matrix(["0", "1"], result.metrics.confusion_matrix)
    return result.decision.blessed
