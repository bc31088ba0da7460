"""The evaluate step: score the eval split with the candidate and the champion, gate, log.

Both models are raw-in serving models scored on exactly the same eval rows (see
components.evaluate.scoring), so their metrics compare directly; the gate
(components.evaluate.gate) also measures the candidate against the label's prior.
"""

from __future__ import annotations

import csv
import json
import re
import time
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
from components.evaluate.metrics import BinaryMetrics, binary_metrics
from components.evaluate.report import write_plots
from components.evaluate.scoring import CorruptChampionError, predict_probabilities, score_champion

MIN_SLICE_EXAMPLES = 30
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
    fewer than `MIN_SLICE_EXAMPLES` examples (its count is the value).
    """

    metrics: BinaryMetrics
    slices: dict[str, BinaryMetrics]
    skipped_slices: dict[str, int]
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


def labels_and_slice_values(dense: dict[str, tf.Tensor], spec: DatasetSpec) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels from the spec's `derive`, and each slice column's values as text."""
    labels = np.asarray(spec.label.derive(dense)).astype(np.int64)
    slices = {name: np.array([_slice_value(v) for v in dense[name].numpy()]) for name in spec.slice_columns}
    return labels, slices


def _slice_value(value: bytes | float) -> str:
    """Strings decoded, whole numbers without ".0", anything missing as "(missing)"."""
    if isinstance(value, bytes):
        return value.decode("utf-8") or "(missing)"
    if np.isnan(value):
        return "(missing)"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def slice_metrics(
    labels: np.ndarray, probabilities: np.ndarray, slice_values: dict[str, np.ndarray]
) -> tuple[dict[str, BinaryMetrics], dict[str, int]]:
    """Metrics per "column=value"; slices under `MIN_SLICE_EXAMPLES` examples are only counted."""
    measured: dict[str, BinaryMetrics] = {}
    skipped: dict[str, int] = {}
    for column, values in slice_values.items():
        for value in sorted(set(values.tolist())):
            mask = values == value
            key = f"{column}={value}"
            if mask.sum() < MIN_SLICE_EXAMPLES:
                skipped[key] = int(mask.sum())
            else:
                measured[key] = binary_metrics(labels[mask], probabilities[mask])
    return measured, skipped


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
) -> EvaluationResult:
    """Evaluate the candidate, gate it, and log it all to MLflow.

    Writes the plots and `metrics.json` to `output_dir`. Runs inside the step's
    MLflow run, so a failure fails the pipeline's run; when the candidate is not
    blessed the pipeline ends here, so the pipeline's run is finished.
    """
    spec = get_spec(dataset)
    output_dir = Path(output_dir)
    mlflow_client = tracking.client(tracking_uri)
    with tracking.step_run(tracking_uri, pipeline_run_id, "evaluate") as run:
        dense = parse_csv_rows(tf.constant(read_eval_rows(Path(eval_data_path), spec)), spec)
        labels, slice_values = labels_and_slice_values(dense, spec)
        probabilities = predict_probabilities(Path(model_dir), dense)
        metrics = binary_metrics(labels, probabilities)
        slices, skipped = slice_metrics(labels, probabilities, slice_values)
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
        )
        result = EvaluationResult(
            metrics,
            slices,
            skipped,
            champion.metrics,
            champion.version,
            prior,
            decision,
            plots=write_plots(metrics, output_dir),
            metrics_file=output_dir / "metrics.json",
            step_run_id=run.info.run_id,
        )
        _write_metrics_file(result, settings)
        logged = _mlflow_metrics(result)
        gate_params = {
            **asdict(settings.thresholds),
            "champion_tolerance": settings.champion_tolerance,
            "baseline_margin": settings.baseline_margin,
            "allow_unscored_champion": settings.allow_unscored_champion,
            "champion_version": champion.version or "none",
        }
        mlflow.log_params(gate_params)
        tracking.log_pipeline_params(tracking_uri, pipeline_run_id, "evaluate", gate_params)
        mlflow.log_metrics(logged)
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
    return logged


def _write_metrics_file(result: EvaluationResult, settings: GateSettings) -> None:
    champion = result.champion_metrics
    result.metrics_file.write_text(
        json.dumps(
            {
                "metrics": result.metrics.to_dict(),
                "slices": {key: value.to_dict() for key, value in result.slices.items()},
                "skipped_slices": result.skipped_slices,
                "champion": {"version": result.champion_version, "metrics": champion.to_dict() if champion else None},
                "prior": asdict(result.prior),
                "gate": asdict(settings),
                "blessed": result.decision.blessed,
                "reasons": result.decision.reasons,
            },
            indent=2,
        )
    )
