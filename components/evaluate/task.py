"""The evaluate step: score the eval split with the candidate and the champion, explain, gate, log.

Both models are raw-in serving models scored on exactly the same eval rows (see
components.evaluate.scoring), so their metrics compare directly; the gate
(components.evaluate.gate) also measures the candidate against the label's prior and, where the spec
declares a slice gate, per slice. The candidate's permutation importance
(components.evaluate.importance) is reported, never gated.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import tensorflow as tf
from mlflow.entities import Metric

from components.common import tracking
from components.common.raw_tensors import parse_csv_rows
from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.evaluate.gate import GateDecision, Prior, Thresholds, gate
from components.evaluate.importance import (
    DEFAULT_IMPORTANCE,
    Importance,
    ImportanceSettings,
    permutation_importance,
)
from components.evaluate.metrics import BinaryMetrics, binary_metrics
from components.evaluate.report import write_plots
from components.evaluate.scoring import CorruptChampionError, load_scorer, score_champion
from components.evaluate.slices import MIN_SLICE_EXAMPLES, SliceGap, slice_gaps, slice_metrics, slice_values

# The most important columns, by mean, that are also logged as MLflow metrics `importance.<column>`.
TOP_IMPORTANCE_METRICS = 10
IMPORTANCE_TABLE = "evaluation/importance.json"
PARENT_RUN_METRICS = ("roc_auc", "accuracy", "precision", "recall", "log_loss", "blessed")
__all__ = ["CorruptChampionError", "EvaluationResult", "GateSettings", "run_evaluate_step"]


@dataclass(frozen=True)
class GateSettings:
    """How strict the gate is for one run; every field is a pipeline parameter, logged with the run."""

    thresholds: Thresholds
    champion_tolerance: float = 0.01
    baseline_margin: float = 0.02
    allow_unscored_champion: bool = False


@dataclass(frozen=True)
class EvaluationResult:
    """Everything the step decided and wrote.

    `slices` and `skipped_slices` are keyed "column=value"; a skipped slice had
    fewer than `MIN_SLICE_EXAMPLES` examples (its count is the value). `slice_gaps`
    and `importance` are keyed by column.
    """

    metrics: BinaryMetrics
    slices: dict[str, BinaryMetrics]
    skipped_slices: dict[str, int]
    slice_gaps: dict[str, SliceGap]
    importance: dict[str, Importance]
    champion_metrics: BinaryMetrics | None
    champion_version: str | None
    prior: Prior
    decision: GateDecision
    plots: dict[str, Path]
    metrics_file: Path
    step_run_id: str


def read_eval_rows(path: Path, spec: DatasetSpec) -> list[str]:
    """Data lines of a CSV file whose header must be the spec's columns in order.

    Lines are split on newlines, so a quoted field must not hold a newline.
    """
    header, *lines = Path(path).read_text(encoding="utf-8").splitlines()
    columns = next(csv.reader([header]))
    if columns != spec.column_names:
        raise ValueError(f"{path}: header {columns} is not the {spec.name} columns {spec.column_names}")
    rows = [line for line in lines if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no eval rows")
    return rows


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
    output_dir = Path(output_dir)
    mlflow_client = tracking.client(tracking_uri)
    with tracking.step_run(tracking_uri, pipeline_run_id, "evaluate") as run:
        dense = parse_csv_rows(tf.constant(read_eval_rows(Path(eval_data_path), spec)), spec)
        labels = np.asarray(spec.label.derive(dense)).astype(np.int64)
        score = load_scorer(Path(model_dir))
        probabilities = score(dense)
        metrics = binary_metrics(labels, probabilities)
        slices, skipped = slice_metrics(labels, probabilities, slice_values(dense, spec.slice_columns))
        started = time.perf_counter()
        importance = permutation_importance(score, dense, labels, spec.feature_columns, importance_settings)
        importance_seconds = time.perf_counter() - started
        champion = score_champion(mlflow_client, model_name, dense, labels, s3_endpoint_url)
        prior = Prior.of(labels)
        notes = [f"slices skipped (< {MIN_SLICE_EXAMPLES} examples): {skipped}"] if skipped else []
        if met := prior.met_by(settings.thresholds):
            notes.append(f"the base-rate predictor alone meets these bounds ({'; '.join(met)}): the prior decides")
        decision = gate(
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
        )
        result = EvaluationResult(
            metrics,
            slices,
            skipped,
            slice_gaps(slices, spec.slice_columns),
            importance,
            champion.metrics,
            champion.version,
            prior,
            decision,
            plots=write_plots(metrics, output_dir, importance),
            metrics_file=output_dir / "metrics.json",
            step_run_id=run.info.run_id,
        )
        importance_method = importance_settings.describe(min(labels.size, importance_settings.max_rows))
        _write_metrics_file(result, settings, importance_method)
        logged = {**_mlflow_metrics(result), "importance_seconds": importance_seconds}
        gate_params = {
            **asdict(settings.thresholds),
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
        mlflow_client.log_batch(
            pipeline_run_id,
            metrics=[Metric(name, logged[name], now, 0) for name in PARENT_RUN_METRICS if name in logged],
        )
    for reason in decision.reasons:
        print(f"gate: {reason}")
    if not decision.blessed:
        tracking.finish_pipeline_run(tracking_uri, pipeline_run_id)
    return result


def _mlflow_metrics(result: EvaluationResult) -> dict[str, float]:
    """Headline, champion and per-slice metrics under MLflow-safe names, plus `blessed` as 0/1."""
    logged = {**result.metrics.headline(), "blessed": float(result.decision.blessed)}
    if result.champion_metrics is not None and result.champion_metrics.roc_auc is not None:
        logged["champion_roc_auc"] = result.champion_metrics.roc_auc
    for key, slice_result in result.slices.items():
        for name, value in slice_result.headline().items():
            logged[mlflow_metric_name(f"slice.{key}.{name}")] = value
    for column, gap in result.slice_gaps.items():
        logged[mlflow_metric_name(f"slice_gap.{column}.{gap.metric}")] = gap.gap
    for column in list(result.importance)[:TOP_IMPORTANCE_METRICS]:
        logged[mlflow_metric_name(f"importance.{column}")] = result.importance[column].mean
    return logged


def _importance_table(importance: Mapping[str, Importance]) -> dict[str, list]:
    """One row per column, as `mlflow.log_table` takes it."""
    rows = [{"column": column, **value.to_dict()} for column, value in importance.items()]
    return {name: [row[name] for row in rows] for name in rows[0]}


def _write_metrics_file(result: EvaluationResult, settings: GateSettings, importance_method: dict) -> None:
    champion = result.champion_metrics
    result.metrics_file.write_text(
        json.dumps(
            {
                "metrics": result.metrics.to_dict(),
                "slices": {key: value.to_dict() for key, value in result.slices.items()},
                "skipped_slices": result.skipped_slices,
                "slice_gaps": {column: gap.to_dict() for column, gap in result.slice_gaps.items()},
                "importance": {column: value.to_dict() for column, value in result.importance.items()},
                "importance_method": importance_method,
                "champion": {"version": result.champion_version, "metrics": champion.to_dict() if champion else None},
                "prior": asdict(result.prior),
                "gate": asdict(settings),
                "blessed": result.decision.blessed,
                "reasons": result.decision.reasons,
            },
            indent=2,
        )
    )
