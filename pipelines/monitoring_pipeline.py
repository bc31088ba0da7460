"""monitor → If(drift and retrain_on_drift) → the training pipeline. This module only wires.

The training branch is the training pipeline itself, nested, so a drift found on a schedule can
retrain on `training_data_uri` in the same run, with every parameter a training run takes: the
retrain is gated and trained exactly as a scheduled training run of the same settings.
"""

from typing import Dict, List, NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, graph_component

from components.common.cluster import GPU_NODE_POOL, NODE_POOL_LABEL_KEY
from components.common.specs.vocabulary.privacy import PSEUDONYMIZE_KEY_SECRET
from components.monitor.component import monitor
from components.variants.base import DEFAULT_VARIANTS
from pipelines.task_settings import RETRIES, on_the_network, treats_values
from pipelines.training_pipeline import build_training_pipeline

PIPELINE_NAME = "tabular-monitoring"


def build_monitoring_pipeline(
    gpu_node_label_key: str = NODE_POOL_LABEL_KEY,
    gpu_node_label_value: str = GPU_NODE_POOL,
    retry_failed_steps: bool = True,
    train_workers: int = 1,
    scheduled_time: bool = True,
) -> graph_component.GraphComponent:
    """The pipeline, its nested training selecting GPU nodes by this label (Settings name it at compile time);
    without retries for local runs, as build_training_pipeline explains."""
    training_pipeline = build_training_pipeline(
        gpu_node_label_key, gpu_node_label_value, retry_failed_steps, train_workers, scheduled_time
    )
    retries = RETRIES if retry_failed_steps else 0

    @dsl.pipeline(name=PIPELINE_NAME, description="Compare new data with the training baseline; retrain on drift.")
    def monitoring_pipeline(
        data_uri: str,
        mlflow_tracking_uri: str,
        model_name: str,
        dataset: str,
        training_data_uri: str,
        model_store_uri: str,
        thresholds: Dict[str, float],
        training_experiment: str,
        baseline_uri: str = "",
        mlflow_experiment: str = "",
        retrain_on_drift: bool = False,
        s3_endpoint_url: str = "",
        # The rest is the training pipeline's, with its defaults; all of it reaches the retrain
        # (pipelines.arguments.monitoring_arguments fills it from the spec like a training run's).
        champion_tolerance: float = 0.01,
        baseline_margin: float = 0.02,
        allow_unscored_champion: bool = False,
        beam_runner: str = "DirectRunner",
        beam_options: str = "[]",
        epochs: int = 20,
        batch_size: int = 0,
        learning_rate: float = 0.0,
        hidden_units: List[int] = [64, 32],  # noqa: B006 (KFP records the default; it is never mutated)
        dropout: float = 0.1,
        early_stopping_patience: int = 3,
        seed: int = 0,
        lr_schedule: str = "constant",
        model_builder: str = "",
        train_gpus: int = 1,
        tune_trials: str = "0",
        tune_parallel_trials: int = 2,
        tune_algorithm: str = "tpe",
        tune_space: str = "{}",
        deploy_on_push: bool = False,
        serving_platform: str = "minikube",
        serving_runtime: str = "mlflow",
        serving_role_arn: str = "",
        deploy_timeout_s: float = 600.0,
        infra_start_timeout_s: float = 120.0,
        infra_latency_p99_ms: float = 500.0,
        force_push: bool = False,
        train_window: int = 0,
        allow_missing_spans: bool = False,
        data_as_of: str = "",
        split: str = "hash",
        warm_start: str = "auto",
        variants: str = DEFAULT_VARIANTS,
        distill_builder: str = "mlp",
        variant_tolerance: float = -1.0,
        pseudonymize_key_secret: str = PSEUDONYMIZE_KEY_SECRET,
    ) -> NamedTuple("MonitoringOutputs", [("drift_summary", Artifact), ("report", HTML)]):
        monitor_task = on_the_network(
            monitor(
                data_uri=data_uri,
                baseline_uri=baseline_uri,
                model_name=model_name,
                mlflow_tracking_uri=mlflow_tracking_uri,
                mlflow_experiment=mlflow_experiment,
                pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                retrain_on_drift=retrain_on_drift,
                s3_endpoint_url=s3_endpoint_url,
            ),
            retries,
        )
        # Monitor treats the new data's sensitive columns as the baseline's were treated.
        treats_values(monitor_task, pseudonymize_key_secret)
        with dsl.If(monitor_task.outputs["Output"] == True, name="retrain-on-drift"):  # noqa: E712 (a KFP condition)
            training_pipeline(
                dataset=dataset,
                data_uri=training_data_uri,
                mlflow_tracking_uri=mlflow_tracking_uri,
                mlflow_experiment=training_experiment,
                model_store_uri=model_store_uri,
                model_name=model_name,
                thresholds=thresholds,
                champion_tolerance=champion_tolerance,
                baseline_margin=baseline_margin,
                allow_unscored_champion=allow_unscored_champion,
                s3_endpoint_url=s3_endpoint_url,
                beam_runner=beam_runner,
                beam_options=beam_options,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                hidden_units=hidden_units,
                dropout=dropout,
                early_stopping_patience=early_stopping_patience,
                seed=seed,
                lr_schedule=lr_schedule,
                model_builder=model_builder,
                train_gpus=train_gpus,
                tune_trials=tune_trials,
                tune_parallel_trials=tune_parallel_trials,
                tune_algorithm=tune_algorithm,
                tune_space=tune_space,
                deploy_on_push=deploy_on_push,
                serving_platform=serving_platform,
                serving_runtime=serving_runtime,
                serving_role_arn=serving_role_arn,
                deploy_timeout_s=deploy_timeout_s,
                infra_start_timeout_s=infra_start_timeout_s,
                infra_latency_p99_ms=infra_latency_p99_ms,
                force_push=force_push,
                train_window=train_window,
                allow_missing_spans=allow_missing_spans,
                data_as_of=data_as_of,
                split=split,
                warm_start=warm_start,
                variants=variants,
                distill_builder=distill_builder,
                variant_tolerance=variant_tolerance,
                pseudonymize_key_secret=pseudonymize_key_secret,
            )
        MonitoringOutputs = NamedTuple("MonitoringOutputs", [("drift_summary", Artifact), ("report", HTML)])
        return MonitoringOutputs(
            drift_summary=monitor_task.outputs["drift_summary"], report=monitor_task.outputs["report"]
        )

    return monitoring_pipeline


monitoring_pipeline = build_monitoring_pipeline()
