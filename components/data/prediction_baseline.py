"""The model's predictions at training time: what the drift check compares a scoring run's predictions with.

Evaluate scores the eval split with the candidate and saves the task's predictions (P(positive), each
class's probability, or the predicted value) as `prediction_baseline.json` on the pipeline's MLflow run,
beside `baseline.json`: a Baseline whose numeric columns, of role "prediction", are `prediction` when the
task answers one number per row and `prediction.<class>` when it answers one per class. A scoring run's
outputs become the same columns through `prediction_frame`, so the two compare column by column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.common import tracking
from components.data.baseline import Baseline, build_baseline
from components.tasks import Task

PREDICTION_BASELINE_ARTIFACT = "prediction_baseline.json"
PREDICTION = "prediction"


def prediction_frame(task: Task, predictions: np.ndarray) -> pd.DataFrame:
    """The task's predictions (`Task.predictions`) as named columns of float64."""
    values = np.asarray(predictions, dtype=np.float64)
    if values.ndim == 1:
        return pd.DataFrame({PREDICTION: values})
    names = list(getattr(task, "classes", ())) or [str(position) for position in range(values.shape[1])]
    if len(names) != values.shape[1]:
        raise ValueError(f"{values.shape[1]} predictions per row for the task's {len(names)} classes {names}")
    return pd.DataFrame({f"{PREDICTION}.{name}": values[:, position] for position, name in enumerate(names)})


def prediction_baseline(task: Task, predictions: np.ndarray, dataset: str, source: str) -> Baseline:
    frame = prediction_frame(task, predictions)
    kinds = {name: ("numeric", "number", "prediction") for name in frame.columns}
    return build_baseline([frame], dataset, source, kinds)


def log_prediction_baseline(
    task: Task, predictions: np.ndarray, dataset: str, source: str, tracking_uri: str, run_id: str
) -> None:
    """Save the predictions' baseline as `prediction_baseline.json` on the pipeline's MLflow run."""
    baseline = prediction_baseline(task, predictions, dataset, source)
    tracking.client(tracking_uri).log_text(run_id, baseline.to_json(), PREDICTION_BASELINE_ARTIFACT)
