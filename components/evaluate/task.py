"""The evaluate step: score the eval split with the candidate (and the champion), gate, log.

Both models are raw-in serving models (signature `predict_csv`), so they are
scored on exactly the same eval rows and their metrics compare directly.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import tensorflow as tf
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking
from components.common.raw_tensors import parse_csv_rows
from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.evaluate.metrics import BinaryMetrics, GateDecision, Thresholds, binary_metrics, gate
from components.evaluate.report import write_plots

SIGNATURE = "predict_csv"
MIN_SLICE_EXAMPLES = 30
PARENT_RUN_METRICS = ("roc_auc", "accuracy", "precision", "recall", "log_loss", "blessed")
# Error codes MLflow's registry answers with when the model, or its alias, does not exist.
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}
# Set by push on every version: the SHA-256 of its MANIFEST.sha256.
MANIFEST_DIGEST_TAG = "manifest_sha256"


class CorruptChampionError(RuntimeError):
    """The champion's files differ from what was pushed; the gate cannot compare against it."""


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


def predict_csv_rows(model_dir: Path, lines: list[str], batch_size: int = 4096) -> np.ndarray:
    """Probabilities from a SavedModel's `predict_csv` signature, scored in batches."""
    loaded = tf.saved_model.load(str(model_dir))
    predict = loaded.signatures[SIGNATURE]
    batches = [
        predict(csv_rows=tf.constant(lines[start : start + batch_size]))["probability"].numpy()
        for start in range(0, len(lines), batch_size)
    ]
    return np.concatenate(batches).astype(np.float64)


def labels_and_slice_values(lines: list[str], spec: DatasetSpec) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels from the spec's `derive`, and each slice column's values as text."""
    dense = parse_csv_rows(tf.constant(lines), spec)
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


def score_champion(
    mlflow_client: MlflowClient, model_name: str, lines: list[str], labels: np.ndarray
) -> tuple[BinaryMetrics | None, str | None, str]:
    """The champion's metrics on the same rows, its version, and a note saying what happened.

    A failure to fetch, load or score the champion is reported in the note rather
    than raised: the gate then falls back to the absolute thresholds. A champion
    whose files fail their checksums is different: CorruptChampionError, naming
    the version and the file, fails the step.
    """
    try:
        version = mlflow_client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS)
    except MlflowException as error:
        if error.error_code not in _NOT_FOUND_CODES:
            raise
        return None, None, f"no champion for {model_name!r}: thresholds alone decide"
    champion_version = str(version.version)
    label = f"champion {model_name!r} version {champion_version}"
    store_uri = version.tags.get(tracking.STORE_URI_TAG)
    if not store_uri:
        return None, champion_version, f"{label} has no {tracking.STORE_URI_TAG!r} tag: thresholds alone decide"
    try:
        with tempfile.TemporaryDirectory(prefix="champion-") as workdir:
            champion_dir = storage.download_dir(store_uri, Path(workdir) / "model")
            _check_manifest_digest(champion_dir, version.tags.get(MANIFEST_DIGEST_TAG), store_uri)
            probabilities = predict_csv_rows(champion_dir, lines)
    except storage.ChecksumMismatchError as error:
        # A champion whose bytes changed is not a baseline: comparing against it would gate on garbage.
        raise CorruptChampionError(f"{label}: {error}") from error
    except Exception as error:  # noqa: BLE001 - any champion failure must leave the candidate judged on thresholds
        return (
            None,
            champion_version,
            (f"{label} at {store_uri} could not be scored ({type(error).__name__}: {error}): thresholds alone decide"),
        )
    return binary_metrics(labels, probabilities), champion_version, f"{label} at {store_uri} scored on the same rows"


def _check_manifest_digest(champion_dir: Path, expected: str | None, store_uri: str) -> None:
    """The downloaded manifest must be the one the registry recorded at push time (when it recorded one)."""
    if expected is None:
        return
    manifest = champion_dir / storage.MANIFEST_NAME
    actual = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else "missing"
    if actual != expected:
        raise storage.ChecksumMismatchError(
            f"{store_uri}/{storage.MANIFEST_NAME}: sha256 {actual}, the registry recorded {expected}"
        )


def run_evaluate_step(
    model_dir: Path,
    eval_data_path: Path,
    dataset: str,
    tracking_uri: str,
    pipeline_run_id: str,
    model_name: str,
    thresholds: Thresholds,
    tolerance: float,
    output_dir: Path,
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
        lines = read_eval_rows(Path(eval_data_path), spec)
        labels, slice_values = labels_and_slice_values(lines, spec)
        probabilities = predict_csv_rows(Path(model_dir), lines)
        metrics = binary_metrics(labels, probabilities)
        slices, skipped = slice_metrics(labels, probabilities, slice_values)
        champion, champion_version, champion_note = score_champion(mlflow_client, model_name, lines, labels)
        skipped_note = [f"slices skipped (< {MIN_SLICE_EXAMPLES} examples): {skipped}"] if skipped else []
        decision = gate(metrics, thresholds, tolerance, champion, notes=(champion_note, *skipped_note))
        result = EvaluationResult(
            metrics,
            slices,
            skipped,
            champion,
            champion_version,
            decision,
            plots=write_plots(metrics, output_dir),
            metrics_file=output_dir / "metrics.json",
            step_run_id=run.info.run_id,
        )
        _write_metrics_file(result, thresholds, tolerance)
        logged = _mlflow_metrics(result)
        gate_params = {
            **asdict(thresholds),
            "champion_tolerance": tolerance,
            "champion_version": champion_version or "none",
        }
        mlflow.log_params(gate_params)
        tracking.log_pipeline_params(tracking_uri, pipeline_run_id, "evaluate", gate_params)
        mlflow.log_metrics(logged)
        for path in (*result.plots.values(), result.metrics_file):
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        now = int(time.time() * 1000)
        mlflow_client.log_batch(
            pipeline_run_id,
            metrics=[Metric(name, logged[name], now, 0) for name in PARENT_RUN_METRICS if name in logged],
        )
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


def _write_metrics_file(result: EvaluationResult, thresholds: Thresholds, tolerance: float) -> None:
    champion = result.champion_metrics
    result.metrics_file.write_text(
        json.dumps(
            {
                "metrics": result.metrics.to_dict(),
                "slices": {key: value.to_dict() for key, value in result.slices.items()},
                "skipped_slices": result.skipped_slices,
                "champion": {"version": result.champion_version, "metrics": champion.to_dict() if champion else None},
                "thresholds": {**asdict(thresholds), "champion_tolerance": tolerance},
                "blessed": result.decision.blessed,
                "reasons": result.decision.reasons,
            },
            indent=2,
        )
    )
