from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Input, Model, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def push(
    model: Input[Model],
    model_store_uri: str,
    model_name: str,
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    s3_endpoint_url: str,
    model_card: Output[HTML],
    force_push: bool = False,
) -> NamedTuple("PushOutputs", [("model_version", str), ("store_uri", str)]):
    """Copy the blessed model (an MLflow model: the SavedModel with MLmodel beside it) to the model store and
    make it the registry's champion; a champion is also copied to `<store>/<model>/serving/<version>/`.

    `model_card` is the version's HTML model card, the same page as its MLflow artifact.
    An empty `s3_endpoint_url` falls back to MLFLOW_S3_ENDPOINT_URL, then AWS_ENDPOINT_URL.
    The pipeline run's evaluate step must have blessed the model; `force_push` pushes a run that has no
    evaluate step on record (logged on the push run and tagged on the version), never one its gate refused.
    """
    from collections import namedtuple
    from pathlib import Path

    from components.push.task import push_model

    result = push_model(
        Path(model.path),
        model_store_uri,
        model_name,
        mlflow_tracking_uri,
        mlflow_run_id,
        endpoint_url=s3_endpoint_url or None,
        card_path=Path(model_card.path),
        force_push=force_push,
    )
    outputs = namedtuple("PushOutputs", ["model_version", "store_uri"])
    return outputs(result.model_version, result.store_uri)
