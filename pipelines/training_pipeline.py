"""validate → transform → train → evaluate → If(blessed) → push. This module only wires."""

from typing import List, NamedTuple

from kfp import dsl

from components.evaluate.component import evaluate
from components.push.component import push
from components.train.component import train
from components.transform.component import transform
from components.validate.component import validate

PIPELINE_NAME = "tabular-training"


@dsl.pipeline(name=PIPELINE_NAME, description="Train, evaluate and push a TensorFlow classifier from raw CSV.")
def training_pipeline(
    dataset: str,
    data_uri: str,
    mlflow_tracking_uri: str,
    mlflow_experiment: str,
    model_store_uri: str,
    model_name: str,
    min_roc_auc: float,
    min_accuracy: float,
    max_log_loss: float,
    champion_tolerance: float = 0.01,
    s3_endpoint_url: str = "",
    beam_runner: str = "DirectRunner",
    beam_options: str = "[]",
    epochs: int = 20,
    batch_size: int = 256,
    learning_rate: float = 0.003,
    hidden_units: List[int] = [64, 32],  # noqa: B006 (KFP records the default; it is never mutated)
    dropout: float = 0.1,
    early_stopping_patience: int = 3,
) -> NamedTuple("PipelineOutputs", [("mlflow_run_id", str), ("blessed", bool)]):
    validate_task = validate(
        data_uri=data_uri,
        dataset=dataset,
        mlflow_tracking_uri=mlflow_tracking_uri,
        mlflow_experiment=mlflow_experiment,
        pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    )
    mlflow_run_id = validate_task.outputs["mlflow_run_id"]
    transform_task = transform(
        data_uri=data_uri,
        dataset=dataset,
        mlflow_tracking_uri=mlflow_tracking_uri,
        mlflow_run_id=mlflow_run_id,
        beam_runner=beam_runner,
        beam_options=beam_options,
        s3_endpoint_url=s3_endpoint_url,
    )
    train_task = train(
        dataset=dataset,
        transform_graph=transform_task.outputs["transform_graph"],
        transformed_examples=transform_task.outputs["transformed_examples"],
        mlflow_tracking_uri=mlflow_tracking_uri,
        mlflow_run_id=mlflow_run_id,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        hidden_units=hidden_units,
        dropout=dropout,
        early_stopping_patience=early_stopping_patience,
    )
    evaluate_task = evaluate(
        model=train_task.outputs["model"],
        eval_data=transform_task.outputs["eval_data"],
        dataset=dataset,
        model_name=model_name,
        mlflow_tracking_uri=mlflow_tracking_uri,
        mlflow_run_id=mlflow_run_id,
        min_roc_auc=min_roc_auc,
        min_accuracy=min_accuracy,
        max_log_loss=max_log_loss,
        champion_tolerance=champion_tolerance,
    )
    with dsl.If(evaluate_task.outputs["Output"] == True, name="blessed"):  # noqa: E712 (a KFP condition)
        push(
            model=train_task.outputs["model"],
            model_store_uri=model_store_uri,
            model_name=model_name,
            mlflow_tracking_uri=mlflow_tracking_uri,
            mlflow_run_id=mlflow_run_id,
            s3_endpoint_url=s3_endpoint_url,
        )
    PipelineOutputs = NamedTuple("PipelineOutputs", [("mlflow_run_id", str), ("blessed", bool)])
    return PipelineOutputs(mlflow_run_id=mlflow_run_id, blessed=evaluate_task.outputs["Output"])
