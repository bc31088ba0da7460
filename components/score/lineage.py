"""What a scoring run records beside its output: the predictions' distribution, and the task's metrics when
the input came with its label (delayed ground truth)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from mlflow.entities import DatasetInput, InputTag, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from components.common.specs.base import DatasetSpec
from components.data.source_tags import source_tags
from components.data.sources import DataSource
from components.tasks import task_of
from components.validate.lineage import data_lineage

QUANTILES = {"p05": 0.05, "p50": 0.5, "p95": 0.95}
# An output answering a vector per row (class probabilities) is summarised per position, up to this many.
MAX_POSITIONS = 20


def output_matrix(values: pd.Series) -> np.ndarray:
    """An output column as numbers: [rows] for a scalar output, [rows, k] for one answering k per row."""
    first = values.iloc[0] if len(values) else 0.0
    if isinstance(first, (list, tuple, np.ndarray)):
        return np.stack([np.asarray(value, dtype=np.float64) for value in values])
    return values.to_numpy(dtype=np.float64)


def record_scored_source(
    client: MlflowClient, run_ids: Sequence[str], source: DataSource, spec: DatasetSpec, rows: int
) -> None:
    """The scored data as each run's dataset input (context `scoring`; a span each, as training records them),
    and the source's tags naming its spans and files."""
    inputs = [
        DatasetInput(
            found.dataset,
            tags=[InputTag(tag.key, "scoring") if tag.key == MLFLOW_DATASET_CONTEXT else tag for tag in found.tags],
        )
        for found in data_lineage(source, spec, rows)
    ]
    tags = [RunTag(key, value) for key, value in source_tags(source).items()]
    for run_id in run_ids:
        client.log_inputs(run_id, datasets=inputs)
        client.log_batch(run_id, tags=tags)


def prediction_summary(predictions: pd.DataFrame, outputs: Sequence[str]) -> dict[str, float]:
    """`<output>[.<position>].{mean,std,min,p05,p50,p95,max}` over the scored rows."""
    summary: dict[str, float] = {}
    if predictions.empty:
        return summary
    for name in outputs:
        try:
            matrix = output_matrix(predictions[name])
        except (TypeError, ValueError):  # a text output (a class name) has no distribution of numbers
            continue
        columns = [(name, matrix)] if matrix.ndim == 1 else [
            (f"{name}.{k}", matrix[:, k]) for k in range(min(matrix.shape[1], MAX_POSITIONS))
        ]  # fmt: skip
        for label, values in columns:
            summary[f"{label}.mean"] = float(np.mean(values))
            summary[f"{label}.std"] = float(np.std(values))
            summary[f"{label}.min"] = float(np.min(values))
            summary[f"{label}.max"] = float(np.max(values))
            for quantile, at in QUANTILES.items():
                summary[f"{label}.{quantile}"] = float(np.quantile(values, at))
    return summary


def distribution_figure(predictions: pd.DataFrame, outputs: Sequence[str]):  # noqa: ANN201 (a matplotlib Figure)
    """A histogram per numeric output (per position of a vector output), for the run's artifacts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, np.ndarray]] = []
    for name in outputs:
        try:
            matrix = output_matrix(predictions[name])
        except (TypeError, ValueError):
            continue
        if matrix.ndim == 1:
            panels.append((name, matrix))
        else:
            panels += [(f"{name}[{k}]", matrix[:, k]) for k in range(min(matrix.shape[1], MAX_POSITIONS))]
    figure, axes = plt.subplots(1, max(len(panels), 1), figsize=(4 * max(len(panels), 1), 3), squeeze=False)
    for axis, (title, values) in zip(axes[0], panels):
        axis.hist(values, bins=30)
        axis.set_title(title)
        axis.set_xlabel("prediction")
        axis.set_ylabel("rows")
    figure.tight_layout()
    return figure


def label_metrics(spec: DatasetSpec, rows: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, float]:
    """The task's headline metrics of `predictions` against the label derived from `rows` (the same order)."""
    import tensorflow as tf

    task = task_of(spec)
    dense = {}
    for name in spec.label.source_columns:
        values = rows[name]
        if spec.column(name).dtype == "string":
            dense[name] = tf.constant(values.astype(object).where(values.notna(), "").astype(str).to_numpy())
        else:
            dense[name] = tf.constant(pd.to_numeric(values).astype("float64").to_numpy())
    targets = task.targets(spec.label.derive(dense))
    outputs = {}
    for name in predictions.columns:
        try:
            outputs[name] = output_matrix(predictions[name])
        except (TypeError, ValueError):
            outputs[name] = predictions[name].to_numpy()
    scored = task.predictions(outputs, len(rows))
    return {name: float(value) for name, value in task.metrics(targets, scored).headline().items()}
