"""The variant's gate, on the same eval rows as the full model: its outputs valid for the task, its metric
within the tolerance of the full model's (Task.variant_check), and it serves in the serving runtime
(components.infra_validate, the full model's checks against the variant's own answers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import mlflow.pyfunc
import numpy as np
import pandas as pd
import tensorflow as tf

from components.common.specs.base import DatasetSpec
from components.evaluate.eval_rows import read_eval_columns
from components.evaluate.scoring import load_scorer
from components.infra_validate.task import InfraSettings, validate_serving
from components.tasks import UnscorableOutputError, task_of
from components.train.mlflow_model import spec_inputs, typed_frame


@dataclass(frozen=True)
class VariantGate:
    """Whether the variant may be pushed, each check's line, and its figures (metric delta, size...)."""

    passed: bool
    lines: tuple[str, ...]
    figures: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def rows_frame(dense: Mapping[str, tf.Tensor], spec: DatasetSpec) -> pd.DataFrame:
    """Dense raw columns (components.evaluate.eval_rows) as a client's frame, typed as the full model's
    signature declares each column (mlflow_model.typed_frame: a never-missing int as int64...)."""
    texts = {name for name, kind in spec_inputs(spec) if kind == "string"}
    frame = {}
    for name in spec.feature_columns:
        values = dense[name].numpy()
        frame[name] = [value.decode() for value in values] if name in texts else values
    return typed_frame(pd.DataFrame(frame), spec)


def pyfunc_scorer(model_dir: Path, spec: DatasetSpec):
    """The MLflow model's pyfunc as evaluate's scorer: dense raw columns in, the task's predictions out."""
    model, task = mlflow.pyfunc.load_model(str(model_dir)), task_of(spec)

    def score(dense: Mapping[str, tf.Tensor]) -> np.ndarray:
        answer = model.predict(rows_frame(dense, spec))
        outputs = {name: np.asarray(answer[name].tolist()) for name in answer.columns}
        predictions = task.predictions(outputs, len(answer))
        if not np.all(np.isfinite(predictions)):
            raise UnscorableOutputError(f"{np.sum(~np.isfinite(predictions))} prediction value(s) are not finite")
        return predictions

    return score


def gate_variant(
    variant_dir: Path,
    full_dir: Path,
    eval_data: Path,
    spec: DatasetSpec,
    tolerance: float | None = None,
    infra: InfraSettings | None = None,
) -> VariantGate:
    """Score both models on the eval rows; then, only if the metric holds, start the variant's server."""
    task = task_of(spec)
    dense = read_eval_columns(eval_data, spec)
    targets = task.targets(spec.label.derive(dense))
    full = task.metrics(targets, load_scorer(full_dir, task)(dense))
    try:
        variant = task.metrics(targets, pyfunc_scorer(variant_dir, spec)(dense))
    except UnscorableOutputError as error:
        return VariantGate(False, (f"FAIL outputs: not the {task.kind} task's: {error}",), reason=str(error))
    lines = [f"PASS outputs: valid {task.kind} outputs for {targets.size} eval rows"]
    check = task.variant_check(variant, full, tolerance)
    lines.append(check.line)
    name = task.variant_metric
    ours, theirs = variant.headline().get(name), full.headline().get(name)
    figures = {"metric": ours, "full_metric": theirs}
    if ours is not None and theirs is not None:
        figures["metric_delta"] = ours - theirs
    if not check.passed:
        return VariantGate(False, tuple(lines), figures, check.line)
    served = validate_serving(variant_dir, eval_data, spec, infra or InfraSettings(), pyfunc_scorer(variant_dir, spec))
    lines.extend(f"infra {line}" for line in served.lines)
    figures.update({f"infra_{key}": value for key, value in served.figures.items()})
    return VariantGate(served.passed, tuple(lines), figures, "" if served.passed else f"infra: {served.reason}")
