"""Pipeline arguments from the settings and the dataset spec, shared by every runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.common.settings import Settings
from components.common.specs import get_spec


@dataclass(frozen=True)
class Overrides:
    """What a user may change on the command line for one run."""

    epochs: int | None = None
    min_roc_auc: float | None = None
    min_accuracy: float | None = None
    max_log_loss: float | None = None
    champion_tolerance: float | None = None
    baseline_margin: float | None = None
    allow_unscored_champion: bool | None = None
    seed: int | None = None


def pipeline_arguments(settings: Settings, overrides: Overrides | None = None) -> dict[str, Any]:
    spec = get_spec(settings.dataset)
    thresholds = spec.thresholds
    arguments: dict[str, Any] = {
        "dataset": settings.dataset,
        "data_uri": settings.data_uri,
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "mlflow_experiment": settings.mlflow_experiment,
        "model_store_uri": settings.model_store_uri,
        "model_name": settings.model_name,
        "s3_endpoint_url": settings.s3_endpoint_url,
        "epochs": settings.epochs,
        "min_roc_auc": thresholds.min_roc_auc,
        "min_accuracy": thresholds.min_accuracy,
        "max_log_loss": thresholds.max_log_loss,
        "baseline_margin": spec.baseline_margin,
    }
    arguments.update({key: value for key, value in vars(overrides or Overrides()).items() if value is not None})
    return arguments


def monitoring_arguments(
    settings: Settings, baseline_uri: str, retrain_on_drift: bool, training_data_uri: str | None
) -> dict[str, Any]:
    """The new data is `DATA_URI`; a retrain (when asked) uses the training pipeline's own arguments."""
    training = pipeline_arguments(settings)
    return {
        "data_uri": settings.data_uri,
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "model_name": settings.model_name,
        "dataset": settings.dataset,
        "training_data_uri": training_data_uri or settings.data_uri,
        "model_store_uri": settings.model_store_uri,
        "min_roc_auc": training["min_roc_auc"],
        "min_accuracy": training["min_accuracy"],
        "max_log_loss": training["max_log_loss"],
        "training_experiment": settings.mlflow_experiment,
        "baseline_uri": baseline_uri,
        "retrain_on_drift": retrain_on_drift,
        "s3_endpoint_url": settings.s3_endpoint_url,
        "epochs": settings.epochs,
    }
