"""The compressed variants' two tasks in the training pipeline (issue 26): `build_variants` after the
candidate served in infra-validate, `push_variants` after push. Push never waits on the variants: their
tasks are beside it, and only push_variants needs push's outputs."""

from __future__ import annotations

from typing import Any, Callable

from kfp.dsl import PipelineTask

from components.variants.component import build_variants, push_variants


def add_variants(
    network: Callable[[PipelineTask], PipelineTask],
    train_task: PipelineTask,
    transform_task: PipelineTask,
    push_task: PipelineTask,
    params: dict[str, Any],
) -> PipelineTask:
    """Wire both tasks; `network` is the pipeline's `on_the_network` (retries, Secrets, ConfigMaps)."""
    built = build_variants(
        model=train_task.outputs["model"],
        transform_graph=transform_task.outputs["transform_graph"],
        transformed_examples=transform_task.outputs["transformed_examples"],
        eval_data=transform_task.outputs["eval_data"],
        dataset=params["dataset"],
        mlflow_tracking_uri=params["mlflow_tracking_uri"],
        mlflow_run_id=params["mlflow_run_id"],
        variants=params["variants"],
        distill_builder=params["distill_builder"],
        variant_tolerance=params["variant_tolerance"],
        infra_start_timeout_s=params["infra_start_timeout_s"],
        infra_latency_p99_ms=params["infra_latency_p99_ms"],
        s3_endpoint_url=params["s3_endpoint_url"],
    )
    network(built).set_caching_options(enable_caching=False)
    pushed = push_variants(
        variants_in=built.outputs["variants_out"],
        model_name=params["model_name"],
        model_version=push_task.outputs["model_version"],
        store_uri=push_task.outputs["store_uri"],
        mlflow_tracking_uri=params["mlflow_tracking_uri"],
        s3_endpoint_url=params["s3_endpoint_url"],
    )
    network(pushed).set_caching_options(enable_caching=False)
    return pushed
