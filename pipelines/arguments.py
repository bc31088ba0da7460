"""Pipeline arguments from the settings and the dataset spec, shared by every runner."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from components.common.specs import get_spec
from components.data.spans import is_span_pattern
from components.runs.settings import Settings
from components.tasks import task_of
from components.train.hyperparameters import Hyperparameters
from components.variants.base import variant_names

# Hyperparameters a spec may default (epochs is the run's: EPOCHS or --epochs).
SPEC_HYPERPARAMETERS = frozenset(f.name for f in fields(Hyperparameters)) - {"epochs"}


@dataclass(frozen=True)
class Overrides:
    """What a user may change on the command line for one run.

    `thresholds` maps a metric to its new bound, or to None to leave that metric unbounded.
    """

    epochs: int | None = None
    thresholds: Mapping[str, float | None] = field(default_factory=dict)
    champion_tolerance: float | None = None
    baseline_margin: float | None = None
    allow_unscored_champion: bool | None = None
    seed: int | None = None
    model_builder: str | None = None
    warm_start: str | None = None  # auto (the pipeline's default) or none


def gate_thresholds(dataset: str, overrides: Mapping[str, float | None]) -> dict[str, float]:
    """The spec's default bounds with the run's changes; a metric the task does not have is refused."""
    try:
        task_of(get_spec(dataset)).check_thresholds(overrides)
    except ValueError as error:
        raise ValueError(f"{dataset}: {error}") from None
    merged: dict[str, float | None] = {**get_spec(dataset).thresholds, **overrides}
    return {name: float(bound) for name, bound in merged.items() if bound is not None}


def spec_hyperparameters(dataset: str) -> dict[str, Any]:
    spec = get_spec(dataset)
    stray = sorted(set(spec.hyperparameters) - SPEC_HYPERPARAMETERS)
    if stray:
        raise ValueError(
            f"spec {dataset}: hyperparameters {stray} unknown; expected some of {sorted(SPEC_HYPERPARAMETERS)}"
        )
    return {name: list(value) if isinstance(value, tuple) else value for name, value in spec.hyperparameters.items()}


def variant_arguments(settings: Settings) -> dict[str, str]:
    """VARIANTS as the pipeline's `variants` parameter (unset: the pipeline's default); an unknown or repeated
    kind is refused before any step runs."""
    if settings.variants is None:
        return {}
    try:
        variant_names(settings.variants)
    except ValueError as error:
        raise ValueError(f"VARIANTS: {error}") from None
    return {"variants": settings.variants}


def span_arguments(settings: Settings) -> dict[str, Any]:
    """Which spans a run reads and how it holds out eval rows; SPLIT=time needs spans to hold the newest out."""
    if settings.split == "time" and not is_span_pattern(settings.data_uri):
        raise ValueError(
            f"SPLIT=time evaluates on the newest span: DATA_URI {settings.data_uri} names none "
            "(expected a pattern such as .../date={YYYY-MM-DD}/)"
        )
    return {
        "train_window": settings.train_window,
        "allow_missing_spans": settings.allow_missing_spans,
        "data_as_of": settings.data_as_of,
        "split": settings.split,
    }


def pipeline_arguments(settings: Settings, overrides: Overrides | None = None) -> dict[str, Any]:
    overrides = overrides or Overrides()
    spec = get_spec(settings.dataset)
    arguments: dict[str, Any] = {
        "dataset": settings.dataset,
        "data_uri": settings.data_uri,
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "mlflow_experiment": settings.mlflow_experiment,
        "model_store_uri": settings.model_store_uri,
        "model_name": settings.model_name,
        "s3_endpoint_url": settings.s3_endpoint_url,
        "epochs": settings.epochs,
        "thresholds": gate_thresholds(settings.dataset, overrides.thresholds),
        "baseline_margin": spec.baseline_margin,
        "warm_start": settings.warm_start,
        **span_arguments(settings),
        **spec_hyperparameters(settings.dataset),
        **variant_arguments(settings),
    }
    arguments.update(
        {
            key: value
            for key, value in vars(overrides).items()
            if value is not None and key != "thresholds" and value != ""
        }
    )
    return arguments


# The training pipeline's parameters that the monitoring pipeline names otherwise: there `data_uri` is
# the new data and `mlflow_experiment` the drift check's own experiment.
RETRAIN_PARAMETERS = {"data_uri": "training_data_uri", "mlflow_experiment": "training_experiment"}


def monitoring_arguments(
    settings: Settings,
    baseline_uri: str,
    retrain_on_drift: bool,
    training_data_uri: str | None,
    overrides: Overrides | None = None,
) -> dict[str, Any]:
    """The new data is `DATA_URI`; the retrain (when asked) gets every argument a training run of
    these settings gets (`pipeline_arguments`), so drift is never answered by a weaker gate."""
    training = pipeline_arguments(settings, overrides)
    retrain = {RETRAIN_PARAMETERS.get(name, name): value for name, value in training.items()}
    return {
        **retrain,
        "training_data_uri": training_data_uri or settings.data_uri,
        "data_uri": settings.data_uri,
        "baseline_uri": baseline_uri,
        "retrain_on_drift": retrain_on_drift,
    }
