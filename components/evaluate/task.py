"""The evaluate step: score the eval split with the candidate and the champion, explain, gate, log.

Both models are raw-in serving models scored on exactly the same eval rows (see
components.evaluate.scoring), so their metrics compare directly; the gate
(components.evaluate.gate) also measures the candidate against the label's prior and, where the spec
declares a slice gate, per slice. The candidate's permutation importance
(components.evaluate.importance) is reported, never gated. The metrics, the headline, the prior and
the plots are the spec's task's (components.tasks).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow
from mlflow.entities import Metric

from components.common import tracking
from components.common.specs import get_spec
from components.data.images import blank_image, image_features
from components.data.prediction_baseline import log_prediction_baseline
from components.evaluate.eval_rows import read_eval_columns
from components.evaluate.gate import GateDecision, gate
from components.evaluate.importance import (
    DEFAULT_IMPORTANCE,
    Importance,
    ImportanceSettings,
    permutation_importance,
)
from components.evaluate.report import write_plots
from components.evaluate.scoring import CorruptChampionError, load_scorer, score_champion
from components.evaluate.shown_slices import ShownSlices, shown_slices
from components.evaluate.slices import MIN_SLICE_EXAMPLES, SliceGap, slice_gaps, slice_metrics, slice_values
from components.evaluate.worst_images import worst_misclassified
from components.runs import step_runs
from components.tasks import Task, TaskMetrics, task_of

# The most important columns, by mean, that are also logged as MLflow metrics `importance.<column>`.
TOP_IMPORTANCE_METRICS = 10
IMPORTANCE_TABLE = "evaluation/importance.json"
__all__ = ["CorruptChampionError", "EvaluationResult", "GateSettings", "run_evaluate_step"]


@dataclass(frozen=True)
class GateSettings:
    """How strict the gate is for one run; every field is a pipeline parameter, logged with the run.

    `thresholds` maps a metric of the task to its bound (a floor or a ceiling, by the task's
    direction for it); a metric left out is not bounded, one the task does not have is refused.
    """

    thresholds: Mapping[str, float]
    champion_tolerance: float = 0.01
    baseline_margin: float = 0.02
    allow_unscored_champion: bool = False

    def __post_init__(self) -> None:
        for name, bound in self.thresholds.items():
            if not _is_number(bound) or not math.isfinite(bound):
                raise ValueError(f"threshold {name!r} must be a finite number, got {bound!r}")
        # Out of range, either one silently turns its check off (a negative margin lets a model worse
        # than the prior through; a tolerance of 1 or more accepts any champion comparison).
        for name in ("champion_tolerance", "baseline_margin"):
            value = getattr(self, name)
            if not _is_number(value) or not (math.isfinite(value) and 0 <= value < 1):
                raise ValueError(f"{name}={value!r}: expected a finite number in [0, 1)")
        if not isinstance(self.allow_unscored_champion, bool):
            raise ValueError(f"allow_unscored_champion={self.allow_unscored_champion!r}: expected true or false")

    def to_dict(self) -> dict:
        return {
            "thresholds": dict(self.thresholds),
            "champion_tolerance": self.champion_tolerance,
            "baseline_margin": self.baseline_margin,
            "allow_unscored_champion": self.allow_unscored_champion,
        }


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class EvaluationResult:
    """Everything the step decided and wrote.

    `slices` and `skipped_slices` are keyed "column=value"; a skipped slice had
    fewer than `MIN_SLICE_EXAMPLES` examples (its count is the value). `slice_gaps`
    and `importance` are keyed by column. `prior` is the task's metrics of its
    best constant prediction on the same rows (`Task.prior_predictions`). `shown` is what of the slices
    may be written (none under the spec's `min_slice_rows`): every writer reads it, not `slices`.
    """

    task: Task
    metrics: TaskMetrics
    slices: dict[str, TaskMetrics]
    skipped_slices: dict[str, int]
    slice_gaps: dict[str, SliceGap]
    importance: dict[str, Importance]
    champion_metrics: TaskMetrics | None
    champion_version: str | None
    prior: TaskMetrics
    decision: GateDecision
    plots: dict[str, Path]
    metrics_file: Path
    step_run_id: str
    shown: ShownSlices
    # An image spec's most confidently misclassified eval images, as HTML (components/evaluate/worst_images.py).
    worst_images: str = ""


def mlflow_metric_name(name: str) -> str:
    """Characters MLflow rejects in metric names (and "/", which nests paths) become "_"."""
    return re.sub(r"[^\w.\- ]", "_", name)


def run_evaluate_step(
    model_dir: Path,
    eval_data_path: Path,
    dataset: str,
    tracking_uri: str,
    pipeline_run_id: str,
    model_name: str,
    settings: GateSettings,
    output_dir: Path,
    s3_endpoint_url: str = "",
    importance_settings: ImportanceSettings = DEFAULT_IMPORTANCE,
) -> EvaluationResult:
    """Evaluate the candidate, explain it, gate it, and log it all to MLflow.

    Writes the plots and `metrics.json` to `output_dir`. Runs inside the step's
    MLflow run, so a failure fails the pipeline's run; when the candidate is not
    blessed the pipeline ends here, so the pipeline's run is finished.
    """
    spec = get_spec(dataset)
    task = task_of(spec)
    output_dir = Path(output_dir)
    mlflow_client = tracking.client(tracking_uri)
    with step_runs.step_run(tracking_uri, pipeline_run_id, "evaluate") as run:
        task.check_thresholds(settings.thresholds)
        dense = read_eval_columns(Path(eval_data_path), spec)
        targets = task.targets(spec.label.derive(dense))
        score = load_scorer(Path(model_dir), task)
        predictions = score(dense)
        log_prediction_baseline(task, predictions, spec.name, str(eval_data_path), tracking_uri, pipeline_run_id)
        metrics = task.metrics(targets, predictions)
        slices, skipped = slice_metrics(task, targets, predictions, slice_values(dense, spec.slice_columns))
        started = time.perf_counter()
        blanks = {name: blank_image(image) for name, image in image_features(spec).items()}
        importance = permutation_importance(
            score, dense, targets, spec.feature_columns, task, importance_settings, predictions, blanks
        )
        importance_seconds = time.perf_counter() - started
        champion = score_champion(mlflow_client, model_name, dense, targets, task, s3_endpoint_url)
        prior = task.metrics(targets, task.prior_predictions(targets))
        gaps = slice_gaps(task, slices, spec.slice_columns)
        shown = shown_slices(slices, skipped, gaps, spec.min_slice_rows)
        notes = [f"slices skipped (< {MIN_SLICE_EXAMPLES} examples): {shown.skipped}"] if shown.skipped else []
        notes += [shown.note] if shown.note else []
        if met := task.bounds_met_by_prior(settings.thresholds, prior):
            notes.append(f"the {task.prior_name} alone meets these bounds ({'; '.join(met)}): the prior decides")
        decision = gate(
            task,
            metrics,
            settings.thresholds,
            settings.champion_tolerance,
            prior,
            settings.baseline_margin,
            champion,
            settings.allow_unscored_champion,
            notes=tuple(notes),
            slice_gate=spec.slice_gate,
            slices=slices,
            skipped_slices=skipped,
        )
        # Every slice was gated as before; the reasons are written, so they name no small slice.
        decision = replace(decision, reasons=[shown.unnamed(reason) for reason in decision.reasons])
        result = EvaluationResult(
            task,
            metrics,
            slices,
            skipped,
            gaps,
            importance,
            champion.metrics,
            champion.version,
            prior,
            decision,
            plots=write_plots(task, metrics, targets, predictions, output_dir, importance),
            metrics_file=output_dir / "metrics.json",
            step_run_id=run.info.run_id,
            shown=shown,
            worst_images=worst_misclassified(spec, dense, targets, predictions),
        )
        rows = min(targets.size, importance_settings.max_rows)
        importance_method = importance_settings.describe(rows, task.headline_metric)
        _write_metrics_file(result, settings, importance_method)
        logged = {**_mlflow_metrics(result), "importance_seconds": importance_seconds}
        gate_params = {
            **{f"{tracking.THRESHOLD_PARAM}{name}": bound for name, bound in settings.thresholds.items()},
            "champion_tolerance": settings.champion_tolerance,
            "baseline_margin": settings.baseline_margin,
            "allow_unscored_champion": settings.allow_unscored_champion,
            "champion_version": champion.version or "none",
        }
        mlflow.log_params(gate_params)
        mlflow.log_params({f"importance_{name}": value for name, value in importance_method.items()})
        tracking.log_pipeline_params(tracking_uri, pipeline_run_id, "evaluate", gate_params)
        mlflow.log_metrics(logged)
        if importance:
            mlflow.log_table(_importance_table(importance), artifact_file=IMPORTANCE_TABLE)
        mlflow.log_text("\n".join(decision.reasons) + "\n", tracking.GATE_DECISION_ARTIFACT)
        for path in (*result.plots.values(), result.metrics_file):
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        now = int(time.time() * 1000)
        parent_metrics = [*map(mlflow_metric_name, metrics.headline()), "blessed"]
        mlflow_client.log_batch(
            pipeline_run_id, metrics=[Metric(name, logged[name], now, 0) for name in parent_metrics]
        )
    for reason in decision.reasons:
        print(f"gate: {reason}")
    if not decision.blessed:
        step_runs.finish_pipeline_run(tracking_uri, pipeline_run_id)
    return result


def _mlflow_metrics(result: EvaluationResult) -> dict[str, float]:
    """Headline, champion and per-slice metrics under MLflow-safe names, plus `blessed` as 0/1.

    The champion's headline metric is logged as `champion_<metric>` (e.g. champion_roc_auc).
    """
    logged = {mlflow_metric_name(name): value for name, value in result.metrics.headline().items()}
    logged["blessed"] = float(result.decision.blessed)
    headline = result.task.headline_metric
    if (
        result.champion_metrics is not None
        and (value := result.task.headline_value(result.champion_metrics)) is not None
    ):
        logged[mlflow_metric_name(f"champion_{headline}")] = value
    for key, slice_result in result.shown.slices.items():
        for name, value in slice_result.headline().items():
            logged[mlflow_metric_name(f"slice.{key}.{name}")] = value
    for column, gap in result.shown.gaps.items():
        logged[mlflow_metric_name(f"slice_gap.{column}.{gap.metric}")] = gap.gap
    for column in list(result.importance)[:TOP_IMPORTANCE_METRICS]:
        logged[mlflow_metric_name(f"importance.{column}")] = result.importance[column].mean
    return logged


def _importance_table(importance: Mapping[str, Importance]) -> dict[str, list]:
    """One row per column, as `mlflow.log_table` takes it."""
    rows = [{"column": column, **value.to_dict()} for column, value in importance.items()]
    return {name: [row[name] for row in rows] for name in rows[0]}


def _write_metrics_file(result: EvaluationResult, settings: GateSettings, importance_method: dict) -> None:
    """Everything the model card (components.push.model_card) and a reader need, naming the task's metrics."""
    task, champion = result.task, result.champion_metrics
    result.metrics_file.write_text(
        json.dumps(
            {
                "task": task.kind,
                "headline_metric": task.headline_metric,
                "higher_is_better": dict(task.directions),
                "table_metrics": list(task.table_metrics),
                "prior_name": task.prior_name,
                "metrics": result.metrics.to_dict(),
                "headline": result.metrics.headline(),
                "slices": {key: value.to_dict() for key, value in result.shown.slices.items()},
                "skipped_slices": result.shown.skipped,
                "slice_gaps": {column: gap.to_dict() for column, gap in result.shown.gaps.items()},
                "min_slice_rows": result.shown.min_rows,
                "hidden_slices": len(result.shown.hidden),
                "importance": {column: value.to_dict() for column, value in result.importance.items()},
                "importance_method": importance_method,
                "champion": {
                    "version": result.champion_version,
                    "metrics": champion.to_dict() if champion else None,
                    "headline": champion.headline() if champion else None,
                },
                "prior": result.prior.headline(),
                "gate": settings.to_dict(),
                "blessed": result.decision.blessed,
                "reasons": result.decision.reasons,
            },
            indent=2,
        )
    )
