"""score: batch scoring of DATA_URI with the champion (or MODEL_VERSION). This module only wires.

One step (components/score): the model verified against its push manifest, the input validated with the
spec's expectations minus the label's, scored on Beam through the model's serving signature, published
under `output_uri` whole or not at all, and recorded in MLflow (experiment `<dataset>-scoring`).
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, graph_component

from components.common.cluster import GPU_NODE_POOL, NODE_POOL_LABEL_KEY
from components.score.component import score
from pipelines.task_settings import RETRIES, on_the_network

PIPELINE_NAME = "tabular-scoring"


def build_scoring_pipeline(
    gpu_node_label_key: str = NODE_POOL_LABEL_KEY,
    gpu_node_label_value: str = GPU_NODE_POOL,
    retry_failed_steps: bool = True,
    train_workers: int = 1,
    scheduled_time: bool = True,
) -> graph_component.GraphComponent:
    """The pipeline (no step needs a GPU: the node label and workers are taken for the verbs' one signature);
    without retries for local runs, as build_training_pipeline explains."""
    retries = RETRIES if retry_failed_steps else 0
    schedule_time = dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER if scheduled_time else ""

    @dsl.pipeline(name=PIPELINE_NAME, description="Score a table with the champion model, batched on Beam.")
    def scoring_pipeline(
        data_uri: str,
        dataset: str,
        mlflow_tracking_uri: str,
        model_name: str,
        output_uri: str,
        model_version: str = "",
        mlflow_experiment: str = "",
        max_reject_fraction: float = 0.01,
        s3_endpoint_url: str = "",
        beam_runner: str = "DirectRunner",
        beam_options: str = "[]",
        train_window: int = 0,
        allow_missing_spans: bool = False,
        data_as_of: str = "",
    ) -> NamedTuple("ScoringOutputs", [("summary", Artifact), ("report", HTML), ("output_prefix", str)]):
        score_task = on_the_network(
            score(
                data_uri=data_uri,
                dataset=dataset,
                model_name=model_name,
                model_version=model_version,
                output_uri=output_uri,
                mlflow_tracking_uri=mlflow_tracking_uri,
                mlflow_experiment=mlflow_experiment,
                pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                s3_endpoint_url=s3_endpoint_url,
                max_reject_fraction=max_reject_fraction,
                beam_runner=beam_runner,
                beam_options=beam_options,
                train_window=train_window,
                allow_missing_spans=allow_missing_spans,
                data_as_of=data_as_of,
                scheduled_time=schedule_time,
            ),
            retries,
        )
        # The same input and model version is the same output: a rerun replaces it, so no cache stands in.
        score_task.set_caching_options(False)
        ScoringOutputs = NamedTuple("ScoringOutputs", [("summary", Artifact), ("report", HTML), ("output_prefix", str)])
        return ScoringOutputs(
            summary=score_task.outputs["summary"],
            report=score_task.outputs["report"],
            output_prefix=score_task.outputs["output_prefix"],
        )

    del gpu_node_label_key, gpu_node_label_value, train_workers
    return scoring_pipeline


scoring_pipeline = build_scoring_pipeline()
