"""Regression metrics on plain NumPy arrays: true values and predictions in, numbers out."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score


@dataclass(frozen=True)
class RegressionMetrics:
    """RMSE, MAE and R² on the target's original scale; R² is None where the targets are all equal."""

    example_count: int
    rmse: float
    mae: float
    r2: float | None
    mean_target: float
    mean_prediction: float

    def headline(self) -> dict[str, float]:
        scalars = {
            "rmse": self.rmse,
            "mae": self.mae,
            "r2": self.r2,
            "mean_target": self.mean_target,
            "mean_prediction": self.mean_prediction,
            "example_count": float(self.example_count),
        }
        return {name: value for name, value in scalars.items() if value is not None}

    def to_dict(self) -> dict:
        return asdict(self)


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> RegressionMetrics:
    targets = np.asarray(targets, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if targets.shape != predictions.shape or targets.ndim != 1 or targets.size == 0:
        raise ValueError(
            f"need equal-length non-empty 1-D targets and predictions, got {targets.shape} and {predictions.shape}"
        )
    constant = bool(np.all(targets == targets[0]))
    return RegressionMetrics(
        example_count=int(targets.size),
        rmse=float(np.sqrt(mean_squared_error(targets, predictions))),
        mae=float(mean_absolute_error(targets, predictions)),
        r2=None if constant else float(r2_score(targets, predictions)),
        mean_target=float(targets.mean()),
        mean_prediction=float(predictions.mean()),
    )
