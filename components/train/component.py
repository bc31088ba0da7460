from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.common.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def train(
    dataset: str,
    transform_graph: Input[Artifact],
    transformed_examples: Input[Dataset],
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    hidden_units: List[int],
    dropout: float,
    early_stopping_patience: int,
    seed: int,
    model_builder: str,
    train_workers: int,
    worker_gpus: int,
    gpu_node_label_key: str,
    gpu_node_label_value: str,
    s3_endpoint_url: str,
    model: Output[Model],
    model_name: str = "",
    warm_start: str = "auto",
    lr_schedule: str = "constant",
) -> float:
    """The builder's Keras model on the transformed data (GPUs when present); exports the raw-in SavedModel.

    `model_builder` (empty: the spec's) is a built-in name or `package.module:function` in the image.
    With `train_workers` > 1 this task launches the workers (a TFJob of `worker_gpus` GPUs each on the
    labelled node pool; local processes under kfp.local) and hands on the chief's export.
    `warm_start` "auto" starts from `model_name`'s champion when it was built the same way, "none" from scratch.
    Returns the best value of the validation metric that early stopping watched.
    """
    from pathlib import Path

    from components.common.images import TRAINER_IMAGE as IMAGE
    from components.train.distributed import WorkerPool
    from components.train.hyperparameters import Hyperparameters
    from components.train.step import Workers, run_train_step

    workers = None
    if train_workers > 1:
        workers = Workers(
            pool=WorkerPool(train_workers, IMAGE, worker_gpus, gpu_node_label_key, gpu_node_label_value),
            input_uris=(transform_graph.uri, transformed_examples.uri),
            export_uri=model.uri,
            s3_endpoint_url=s3_endpoint_url,
        )

    result = run_train_step(
        dataset=dataset,
        transform_graph_dir=Path(transform_graph.path),
        examples_dir=Path(transformed_examples.path),
        export_dir=Path(model.path),
        hyperparameters=Hyperparameters(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            hidden_units=tuple(int(units) for units in hidden_units),  # JSON numbers arrive as floats
            dropout=dropout,
            early_stopping_patience=early_stopping_patience,
            seed=seed,
            lr_schedule=lr_schedule,
        ),
        tracking_uri=mlflow_tracking_uri,
        pipeline_run_id=mlflow_run_id,
        transform_outputs=dict(transformed_examples.metadata),
        model_builder=model_builder,
        workers=workers,
        model_name=model_name,
        warm_start=warm_start,
        s3_endpoint_url=s3_endpoint_url,
    )
    model.metadata.update(
        {
            "framework": "tensorflow",
            "device": result.device,
            "epochs_run": result.epochs_run,
            "model_builder": result.model_builder,
            "early_stopping_metric": result.early_stopping_metric,
            "batch_size": result.batch_size,
            "learning_rate": result.learning_rate,
            "warm_started_from": result.warm_started_from,
        }
    )
    return result.best_val_metric
