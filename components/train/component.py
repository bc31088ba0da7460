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
    model: Output[Model],
) -> float:
    """Keras on the transformed data (GPUs when present); exports the raw-in SavedModel. Returns best val AUC."""
    from pathlib import Path

    from components.train.task import Hyperparameters, run_train_step

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
        ),
        tracking_uri=mlflow_tracking_uri,
        pipeline_run_id=mlflow_run_id,
        transform_outputs=dict(transformed_examples.metadata),
    )
    model.metadata.update({"framework": "tensorflow", "device": result.device, "epochs_run": result.epochs_run})
    return result.best_val_auc
