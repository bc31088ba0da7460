"""KFP wrapper of the variants step; the logic is in components.variants.task."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def build_variants(
    model: Input[Model],
    transform_graph: Input[Artifact],
    transformed_examples: Input[Dataset],
    eval_data: Input[Dataset],
    dataset: str,
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    variants_out: Output[Artifact],
    variants: str = "int8,distilled",
    distill_builder: str = "mlp",
    variant_tolerance: float = -1.0,
    infra_start_timeout_s: float = 120.0,
    infra_latency_p99_ms: float = 500.0,
    s3_endpoint_url: str = "",
) -> int:
    """Build, gate and keep the compressed variants of the blessed candidate; returns how many passed.

    `variants` names the kinds (float16, int8, int8_full, distilled; "" for none); `variant_tolerance`
    below 0 means each task's default (components.tasks: ROC AUC -0.005, accuracy -0.005, RMSE +1%).
    `s3_endpoint_url` (empty: AWS, or MLFLOW_S3_ENDPOINT_URL) is where MLflow's artifacts are.
    """
    import os
    from pathlib import Path

    from components.common.specs import get_spec
    from components.infra_validate.task import InfraSettings
    from components.variants.base import Candidate
    from components.variants.task import run_variants_step

    if s3_endpoint_url:
        os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", s3_endpoint_url)
    candidate = Candidate(
        get_spec(dataset), Path(model.path), Path(transform_graph.path), Path(transformed_examples.path)
    )
    outcomes = run_variants_step(
        candidate,
        Path(eval_data.path),
        Path(variants_out.path),
        variants,
        distill_builder,
        None if variant_tolerance < 0 else variant_tolerance,
        InfraSettings(start_timeout_s=infra_start_timeout_s, latency_p99_ms=infra_latency_p99_ms),
        mlflow_tracking_uri,
        mlflow_run_id,
    )
    return sum(outcome.passed for outcome in outcomes)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def push_variants(
    variants_in: Input[Artifact],
    model_name: str,
    model_version: str,
    store_uri: str,
    mlflow_tracking_uri: str,
    s3_endpoint_url: str,
) -> str:
    """Upload the passed variants beside the pushed version and tag it; returns their names, comma-separated."""
    from pathlib import Path

    from components.variants.publish import publish_variants

    names = publish_variants(
        Path(variants_in.path), model_name, model_version, store_uri, mlflow_tracking_uri, s3_endpoint_url or None
    )
    return ",".join(names)
