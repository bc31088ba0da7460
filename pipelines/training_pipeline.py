"""validate → transform → tune → train → evaluate → If(blessed) → infra-validate → If(serves) → push →
If(deploy_on_push) → deploy.

This module only wires.

The wiring also says how each task is scheduled on a cluster (GPU, node pool, Secrets, retries, caching);
kfp.local ignores those settings, so the same pipeline runs locally.

Every task reads and writes the object store the same way: the endpoint is the run parameter
`s3_endpoint_url` (empty: AWS), which every task receives; region and server-side encryption come from
the cluster's `object-store` ConfigMap (components.common.object_store), exposed to every task.

The steps that treat sensitive values (validate, transform, infra-validate) read PSEUDONYMIZE_KEY from the
Secret that the run parameter `pseudonymize_key_secret` names (pipelines.task_settings.treats_values).

Only transform is cached: its inputs are content (the digest of the bytes validate passed, the spec's
fingerprint, the Beam settings), so a rerun on the same data by the same code reuses it. Validate is
never cached: it is the check that the data at DATA_URI is still what it was, and it opens the run's
MLflow run. Train, evaluate (which must see the current champion) and push are per run.
"""

from functools import partial
from typing import Dict, List, NamedTuple

from kfp import dsl
from kfp.dsl import graph_component

from components.common.cluster import (
    GPU_NODE_POOL,
    NODE_POOL_LABEL_KEY,
)
from components.common.specs.vocabulary.privacy import PSEUDONYMIZE_KEY_SECRET
from components.deploy.component import deploy
from components.evaluate.component import evaluate
from components.infra_validate.component import infra_validate
from components.push.component import push
from components.train.component import train
from components.transform.component import transform
from components.tune.component import tune
from components.validate.component import validate
from components.variants.base import DEFAULT_VARIANTS
from pipelines.task_settings import (
    RETRIES,
    TRAIN_RETRIES,
    launches_gpu_jobs,
    on_a_gpu_node,
    on_the_network,
    treats_values,
)
from pipelines.variants_wiring import add_variants

PIPELINE_NAME = "tabular-training"


def build_training_pipeline(
    gpu_node_label_key: str = NODE_POOL_LABEL_KEY,
    gpu_node_label_value: str = GPU_NODE_POOL,
    retry_failed_steps: bool = True,
    train_workers: int = 1,
    scheduled_time: bool = True,
) -> graph_component.GraphComponent:
    """The pipeline, with the train task selecting GPU nodes by this label (Settings name it at compile time).

    kfp.local honours retry policies too; local runs build it without them, so that a failure (bad data,
    most often) is reported at once instead of after minutes of backoff.

    `train_workers` (the TRAIN_WORKERS setting) is fixed at compile time because it decides where the
    train task runs: one worker trains in the task's own pod on a GPU node; more make the task a CPU-only
    launcher of a TFJob whose workers take `train_gpus` GPUs each (kfp.local cannot choose between two
    train tasks' artifacts at run time).

    `scheduled_time`: validate and transform get KFP's scheduled time (a recurring run's, else its
    creation time), where a span window ends unless `data_as_of` says otherwise. kfp.local cannot resolve
    that placeholder (its placeholder code fails on it), so a local build passes "" and the local runner
    sets `data_as_of` to the run's day.
    """
    if train_workers < 1:
        raise ValueError(f"train_workers must be 1 or more, got {train_workers}")
    retries, train_retries = (RETRIES, TRAIN_RETRIES) if retry_failed_steps else (0, 0)
    schedule_time = dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER if scheduled_time else ""

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Train, evaluate and push a TensorFlow model (any task, any builder) from raw CSV.",
    )
    def training_pipeline(
        dataset: str,
        data_uri: str,
        mlflow_tracking_uri: str,
        mlflow_experiment: str,
        model_store_uri: str,
        model_name: str,
        thresholds: Dict[str, float],
        champion_tolerance: float = 0.01,
        baseline_margin: float = 0.02,
        allow_unscored_champion: bool = False,
        s3_endpoint_url: str = "",
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
        force_push: bool = False,
        serving_platform: str = "minikube",
        serving_runtime: str = "mlflow",
        serving_role_arn: str = "",
        deploy_timeout_s: float = 600.0,
        infra_start_timeout_s: float = 120.0,
        infra_latency_p99_ms: float = 500.0,
        train_window: int = 0,
        allow_missing_spans: bool = False,
        data_as_of: str = "",
        split: str = "hash",
        warm_start: str = "auto",
        variants: str = DEFAULT_VARIANTS,
        distill_builder: str = "mlp",
        variant_tolerance: float = -1.0,
        pseudonymize_key_secret: str = PSEUDONYMIZE_KEY_SECRET,
    ) -> NamedTuple("PipelineOutputs", [("mlflow_run_id", str), ("blessed", bool)]):
        validate_task = validate(
            data_uri=data_uri,
            dataset=dataset,
            mlflow_tracking_uri=mlflow_tracking_uri,
            mlflow_experiment=mlflow_experiment,
            pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            s3_endpoint_url=s3_endpoint_url,
            train_window=train_window,
            allow_missing_spans=allow_missing_spans,
            data_as_of=data_as_of,
            scheduled_time=schedule_time,
        )
        on_the_network(validate_task, retries).set_caching_options(enable_caching=False)
        treats_values(validate_task, pseudonymize_key_secret)
        mlflow_run_id = validate_task.outputs["mlflow_run_id"]
        transform_task = transform(
            data_uri=data_uri,
            data_sha256=validate_task.outputs["data_sha256"],
            data_size=validate_task.outputs["data_size"],
            dataset=dataset,
            spec_fingerprint=validate_task.outputs["spec_fingerprint"],
            beam_runner=beam_runner,
            beam_options=beam_options,
            s3_endpoint_url=s3_endpoint_url,
            split=split,
            train_window=train_window,
            allow_missing_spans=allow_missing_spans,
            data_as_of=validate_task.outputs["data_as_of"],
        )
        on_the_network(transform_task, retries).set_caching_options(enable_caching=True)
        treats_values(transform_task, pseudonymize_key_secret)
        # With tune_trials 0 the tune task hands the given values on (and imports no TensorFlow).
        tune_task = tune(
            dataset=dataset,
            transform_graph=transform_task.outputs["transform_graph"],
            transformed_examples=transform_task.outputs["transformed_examples"],
            mlflow_tracking_uri=mlflow_tracking_uri,
            mlflow_run_id=mlflow_run_id,
            tune_trials=tune_trials,
            tune_parallel_trials=tune_parallel_trials,
            tune_algorithm=tune_algorithm,
            tune_space=tune_space,
            trial_gpus=train_gpus,
            gpu_node_label_key=gpu_node_label_key,
            gpu_node_label_value=gpu_node_label_value,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            hidden_units=hidden_units,
            dropout=dropout,
            early_stopping_patience=early_stopping_patience,
            seed=seed,
            lr_schedule=lr_schedule,
            model_builder=model_builder,
            s3_endpoint_url=s3_endpoint_url,
        )
        on_the_network(tune_task, retries).set_caching_options(enable_caching=False)
        launches_gpu_jobs(tune_task)
        train_task = train(
            dataset=dataset,
            transform_graph=transform_task.outputs["transform_graph"],
            transformed_examples=transform_task.outputs["transformed_examples"],
            mlflow_tracking_uri=mlflow_tracking_uri,
            mlflow_run_id=mlflow_run_id,
            epochs=epochs,
            batch_size=tune_task.outputs["batch_size"],
            learning_rate=tune_task.outputs["learning_rate"],
            hidden_units=tune_task.outputs["hidden_units"],
            dropout=tune_task.outputs["dropout"],
            early_stopping_patience=early_stopping_patience,
            seed=seed,
            lr_schedule=lr_schedule,
            model_builder=model_builder,
            train_workers=train_workers,
            model_name=model_name,
            warm_start=warm_start,
            worker_gpus=train_gpus,
            gpu_node_label_key=gpu_node_label_key,
            gpu_node_label_value=gpu_node_label_value,
            s3_endpoint_url=s3_endpoint_url,
        )
        on_the_network(train_task, train_retries).set_caching_options(enable_caching=False)
        if train_workers == 1:
            on_a_gpu_node(train_task, train_gpus, gpu_node_label_key, gpu_node_label_value)
        else:
            launches_gpu_jobs(train_task)
        evaluate_task = evaluate(
            model=train_task.outputs["model"],
            eval_data=transform_task.outputs["eval_data"],
            dataset=dataset,
            model_name=model_name,
            mlflow_tracking_uri=mlflow_tracking_uri,
            mlflow_run_id=mlflow_run_id,
            thresholds=thresholds,
            champion_tolerance=champion_tolerance,
            baseline_margin=baseline_margin,
            allow_unscored_champion=allow_unscored_champion,
            s3_endpoint_url=s3_endpoint_url,
        )
        # The gate compares with the registry's current champion, which a cached answer would not see.
        on_the_network(evaluate_task, retries).set_caching_options(enable_caching=False)
        with dsl.If(evaluate_task.outputs["Output"] == True, name="blessed"):  # noqa: E712 (a KFP condition)
            # The blessed candidate must start in the serving runtime and answer as evaluate scored it.
            infra_task = infra_validate(
                model=train_task.outputs["model"],
                eval_data=transform_task.outputs["eval_data"],
                dataset=dataset,
                mlflow_tracking_uri=mlflow_tracking_uri,
                mlflow_run_id=mlflow_run_id,
                start_timeout_s=infra_start_timeout_s,
                latency_p99_ms=infra_latency_p99_ms,
                s3_endpoint_url=s3_endpoint_url,
            )
            on_the_network(infra_task, retries).set_caching_options(enable_caching=False)
            treats_values(infra_task, pseudonymize_key_secret)
            with dsl.If(infra_task.outputs["Output"] == True, name="serves"):  # noqa: E712 (a KFP condition)
                push_task = push(
                    model=train_task.outputs["model"],
                    model_store_uri=model_store_uri,
                    model_name=model_name,
                    mlflow_tracking_uri=mlflow_tracking_uri,
                    mlflow_run_id=mlflow_run_id,
                    s3_endpoint_url=s3_endpoint_url,
                    force_push=force_push,
                )
                on_the_network(push_task, retries).set_caching_options(enable_caching=False)
                with dsl.If(variants != "", name="variants"):
                    add_variants(
                        partial(on_the_network, retries=retries), train_task, transform_task, push_task, locals()
                    )
                # Serve the new champion on KServe; not Ready in time: roll the alias back and fail.
                with dsl.If(deploy_on_push == True, name="deploy-on-push"):  # noqa: E712 (a KFP condition)
                    deploy_task = deploy(
                        mlflow_tracking_uri=mlflow_tracking_uri,
                        mlflow_run_id=mlflow_run_id,
                        model_name=model_name,
                        model_version=push_task.outputs["model_version"],
                        serving_platform=serving_platform,
                        serving_runtime=serving_runtime,
                        serving_role_arn=serving_role_arn,
                        ready_timeout_s=deploy_timeout_s,
                        s3_endpoint_url=s3_endpoint_url,
                    )
                    on_the_network(deploy_task, retries).set_caching_options(enable_caching=False)
        PipelineOutputs = NamedTuple("PipelineOutputs", [("mlflow_run_id", str), ("blessed", bool)])
        return PipelineOutputs(mlflow_run_id=mlflow_run_id, blessed=evaluate_task.outputs["Output"])

    return training_pipeline


training_pipeline = build_training_pipeline()
