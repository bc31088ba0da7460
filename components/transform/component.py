from kfp import dsl
from kfp.dsl import Artifact, Dataset, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def transform(
    data_uri: str,
    dataset: str,
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    beam_runner: str,
    beam_options: str,
    s3_endpoint_url: str,
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
    eval_data: Output[Dataset],
) -> int:
    """tf.Transform on Beam: returns the number of training rows.

    `beam_options` is a JSON list of Beam pipeline flags, e.g.
    '["--project=p", "--region=r", "--temp_location=gs://b/tmp"]' for Dataflow.
    An empty `s3_endpoint_url` means AWS itself.
    """
    from pathlib import Path

    from components.transform.task import run_transform_step

    result = run_transform_step(
        data_uri=data_uri,
        dataset=dataset,
        tracking_uri=mlflow_tracking_uri,
        pipeline_run_id=mlflow_run_id,
        beam_runner=beam_runner,
        beam_options_json=beam_options,
        transform_graph_dir=Path(transform_graph.path),
        examples_dir=Path(transformed_examples.path),
        eval_data_file=Path(eval_data.path),
        s3_endpoint_url=s3_endpoint_url,
    )
    transformed_examples.metadata.update({"train_rows": result.train_rows, "eval_rows": result.eval_rows})
    return result.train_rows
