"""KFP wrapper of the tune step; the logic is in components.tune.task."""

from typing import List, NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input

from components.common.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def tune(
    dataset: str,
    transform_graph: Input[Artifact],
    transformed_examples: Input[Dataset],
    mlflow_tracking_uri: str,
    mlflow_run_id: str,
    tune_trials: str,
    tune_parallel_trials: int,
    tune_algorithm: str,
    tune_space: str,
    trial_gpus: int,
    gpu_node_label_key: str,
    gpu_node_label_value: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    hidden_units: List[int],
    dropout: float,
    early_stopping_patience: int,
    seed: int,
    model_builder: str,
    s3_endpoint_url: str,
    lr_schedule: str = "constant",
) -> NamedTuple(
    "Tuned",
    [("learning_rate", float), ("hidden_units", List[int]), ("dropout", float), ("batch_size", int), ("search", str)],
):
    """Search learning rate, hidden units, dropout and batch size; returns the best trial's values.

    `tune_trials` 0 searches nothing and hands the given values on; `auto` searches only when a probe
    epoch shows the data small enough (components.tune.budget); `search` says what was done. On a
    cluster the trials are a Katib Experiment (at most `tune_parallel_trials` at once, `trial_gpus` GPUs
    each, on the GPU pool); under kfp.local they run one after another with KerasTuner.
    """
    from components.train.hyperparameters import Hyperparameters
    from components.tune.budget import AUTO, requested_trials

    base = Hyperparameters(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        hidden_units=tuple(int(units) for units in hidden_units),
        dropout=dropout,
        early_stopping_patience=early_stopping_patience,
        seed=seed,
        lr_schedule=lr_schedule,
    )
    Tuned = NamedTuple(
        "Tuned",
        [
            ("learning_rate", float),
            ("hidden_units", List[int]),
            ("dropout", float),
            ("batch_size", int),
            ("search", str),
        ],
    )
    trials = requested_trials(tune_trials)
    search = "no search (tune_trials 0)"
    if trials != 0:  # the search's modules (MLflow among them) are imported only when there is one
        from pathlib import Path

        from components.common.images import TRAINER_IMAGE as IMAGE
        from components.train.distributed import WorkerPool
        from components.tune.katib import TrialBudget
        from components.tune.space import SearchSpace
        from components.tune.task import AutoTrials, run_tune_step

        tuned = run_tune_step(
            dataset=dataset,
            inputs=(
                (Path(transform_graph.path), transform_graph.uri),
                (Path(transformed_examples.path), transformed_examples.uri),
            ),
            base=base,
            space=SearchSpace.from_json(tune_space),
            budget=AutoTrials(tune_parallel_trials, tune_algorithm)
            if trials == AUTO
            else TrialBudget(trials, min(tune_parallel_trials, trials), algorithm=tune_algorithm),
            pool=WorkerPool(1, IMAGE, trial_gpus, gpu_node_label_key, gpu_node_label_value),
            tracking_uri=mlflow_tracking_uri,
            pipeline_run_id=mlflow_run_id,
            model_builder=model_builder,
            s3_endpoint_url=s3_endpoint_url,
        )
        base, search = tuned.hyperparameters, tuned.line
    return Tuned(base.learning_rate, list(base.hidden_units), base.dropout, base.batch_size, search)
