"""What differs between the pipelines the cluster verbs deploy, schedule and run: one row per pipeline.

Everything else (compile, upload, experiment, recurring run, run) is one code path in pipelines/remote.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kfp.dsl import graph_component

from components.runs.settings import Settings
from pipelines import monitoring_pipeline, scoring_pipeline, training_pipeline
from pipelines.arguments import monitoring_arguments, pipeline_arguments
from pipelines.scoring_runner import ScoringOptions, scoring_arguments


@dataclass(frozen=True)
class RunOptions:
    """What the command line adds to the settings; the monitoring fields are ignored by training."""

    train_gpus: int = 1
    baseline_uri: str = ""
    retrain_on_drift: bool = False
    training_data_uri: str | None = None


@dataclass(frozen=True)
class Deployable:
    """One pipeline as the cluster verbs see it; `key` is what --pipeline (PIPELINE=) names."""

    key: str
    name: str  # the KFP pipeline, and the default experiment of its runs
    description: str
    recurring_run_name: str
    package: str  # file name under build/
    # (GPU node label key, value, train_workers=) -> pipeline
    build: Callable[..., graph_component.GraphComponent]
    arguments: Callable[[Settings, RunOptions], dict[str, Any]]
    # Run parameters the pods read -> the setting that sets them; those in `optional` may be empty.
    locations: dict[str, str]
    optional: frozenset[str] = frozenset()

    @property
    def deploy_command(self) -> str:
        return "make deploy-pipeline" + ("" if self.key == DEFAULT else f" PIPELINE={self.key}")


def _training_arguments(settings: Settings, options: RunOptions) -> dict[str, Any]:
    return {**pipeline_arguments(settings), "train_gpus": options.train_gpus}


def _monitoring_arguments(settings: Settings, options: RunOptions) -> dict[str, Any]:
    arguments = monitoring_arguments(
        settings, options.baseline_uri, options.retrain_on_drift, options.training_data_uri
    )
    return {**arguments, "train_gpus": options.train_gpus}


def _scoring_arguments(settings: Settings, options: RunOptions) -> dict[str, Any]:
    """MODEL_VERSION, OUTPUT_URI and MAX_REJECT_FRACTION from the environment (pipelines/scoring_runner.py)."""
    return scoring_arguments(settings, ScoringOptions.from_env())


_READ_BY_BOTH = {
    "data_uri": "DATA_URI",
    "model_store_uri": "MODEL_STORE_URI",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
}
DEFAULT = "training"
PIPELINES: dict[str, Deployable] = {
    "training": Deployable(
        key="training",
        name=training_pipeline.PIPELINE_NAME,
        description="Train, evaluate and push a TensorFlow model (any task, any builder) from raw CSV.",
        recurring_run_name=f"{training_pipeline.PIPELINE_NAME}-retraining",
        package="training_pipeline.yaml",
        build=training_pipeline.build_training_pipeline,
        arguments=_training_arguments,
        locations=_READ_BY_BOTH,
    ),
    "monitoring": Deployable(
        key="monitoring",
        name=monitoring_pipeline.PIPELINE_NAME,
        description="Compare new data with the training baseline; retrain on drift.",
        recurring_run_name=f"{monitoring_pipeline.PIPELINE_NAME}-drift-check",
        package="monitoring_pipeline.yaml",
        build=monitoring_pipeline.build_monitoring_pipeline,
        arguments=_monitoring_arguments,
        locations={**_READ_BY_BOTH, "training_data_uri": "TRAIN_DATA_URI", "baseline_uri": "BASELINE_URI"},
        optional=frozenset({"baseline_uri"}),  # empty: the champion's baseline, found through MLflow
    ),
    "scoring": Deployable(
        key="scoring",
        name=scoring_pipeline.PIPELINE_NAME,
        description="Score a table with the champion model, batched on Beam.",
        recurring_run_name=f"{scoring_pipeline.PIPELINE_NAME}-batch",
        package="scoring_pipeline.yaml",
        build=scoring_pipeline.build_scoring_pipeline,
        arguments=_scoring_arguments,
        locations={
            "data_uri": "DATA_URI",
            "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
            "output_uri": "OUTPUT_URI (default MODEL_STORE_URI/scores)",
        },
    ),
}
