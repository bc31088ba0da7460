"""The train pipeline step: training (here, or on workers) inside its MLflow run, and what it logs.

`run_train_step` records the cached transform's outputs on the pipeline's run, logs hyperparameters,
curves and results, and makes the export an MLflow model (components.train.mlflow_model).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Mapping

import mlflow

from components.common import tracking
from components.common.specs import get_spec
from components.runs import step_runs
from components.tasks import task_of
from components.train.distributed import WorkerPool, train_on_workers
from components.train.hyperparameters import CHOSEN_FOR_THE_DATA, Hyperparameters
from components.train.task import TrainResult, train_model
from components.train.warm_start import check_mode, start


@dataclass(frozen=True)
class Workers:
    """Where more than one worker trains: the pool's pods read the inputs' URIs and write near `export_uri`."""

    pool: WorkerPool
    input_uris: tuple[str, str]
    export_uri: str
    s3_endpoint_url: str = ""

    def train(
        self,
        dataset: str,
        input_paths: tuple[Path, Path],
        export_dir: Path,
        hyperparameters: Hyperparameters,
        model_builder: str,
    ) -> TrainResult:
        inputs = tuple(zip(input_paths, self.input_uris))
        fields = train_on_workers(
            self.pool,
            dataset,
            inputs,
            (export_dir, self.export_uri),
            asdict(hyperparameters),
            model_builder,
            self.s3_endpoint_url,
        )
        return TrainResult(**fields)


def _log_hyperparameters(tracking_uri: str, pipeline_run_id: str, values: Mapping[str, object]) -> None:
    """On the step's run and, prefixed `train.`, on the pipeline's run."""
    mlflow.log_params({key: str(value) for key, value in values.items()})
    tracking.log_pipeline_params(tracking_uri, pipeline_run_id, "train", dict(values))


def run_train_step(
    dataset: str,
    transform_graph_dir: Path,
    examples_dir: Path,
    export_dir: Path,
    hyperparameters: Hyperparameters,
    tracking_uri: str,
    pipeline_run_id: str,
    transform_outputs: Mapping[str, object] | None = None,
    model_builder: str = "",
    workers: Workers | None = None,
    model_name: str = "",
    warm_start: str = "auto",
    s3_endpoint_url: str = "",
) -> TrainResult:
    """The pipeline step: train inside its MLflow run; log hyperparameters, curves and the model.

    With `workers`, training runs on `workers.pool.workers` workers (components.train.distributed) and
    this step keeps the chief's export; otherwise in this process.

    `model_builder` (empty: the spec's) is a built-in builder's name or `package.module:function`.

    `warm_start` "auto" starts from `model_name`'s champion when it was built the same way
    (components.train.warm_start), "none" from scratch; the run logs `warm_started_from` and why.

    `transform_outputs` (the transform's artifact metadata: rows per split, runner, data digest) is
    recorded first as the pipeline run's `transform` step: transform is cached, so it cannot log itself.
    """
    spec = get_spec(dataset)
    if transform_outputs is not None:
        step_runs.record_step(tracking_uri, pipeline_run_id, "transform", transform_outputs)
    automatic = ("batch_size", "learning_rate")
    chosen_later = [name for name in automatic if getattr(hyperparameters, name) == CHOSEN_FOR_THE_DATA]
    given = {key: value for key, value in asdict(hyperparameters).items() if key not in chosen_later}
    with step_runs.step_run(tracking_uri, pipeline_run_id, "train"):
        _log_hyperparameters(tracking_uri, pipeline_run_id, given)
        if workers is None:
            with tempfile.TemporaryDirectory(prefix="warm-start-") as scratch:
                champion = start(warm_start, tracking_uri, model_name, Path(scratch), s3_endpoint_url)
                result = train_model(
                    spec, transform_graph_dir, examples_dir, export_dir, hyperparameters, model_builder, None, champion
                )
        else:
            check_mode(warm_start)  # checked even where it cannot apply
            result = workers.train(
                dataset, (transform_graph_dir, examples_dir), export_dir, hyperparameters, model_builder
            )
            note = "trained from scratch: several workers train, and warm start runs in one process only"
            result = replace(result, warm_started_from="", warm_start_note=note)
        started = {"warm_start": warm_start, "warm_started_from": result.warm_started_from or "none"}
        _log_hyperparameters(tracking_uri, pipeline_run_id, started)
        mlflow.set_tag("warm_start_note", result.warm_start_note)
        # What the run left at 0, training chose for the data: logged now (a param is written once).
        chosen = {"batch_size": result.batch_size, "learning_rate": result.learning_rate}
        _log_hyperparameters(tracking_uri, pipeline_run_id, {name: chosen[name] for name in chosen_later})
        for epoch in range(result.epochs_run):
            mlflow.log_metrics({key: values[epoch] for key, values in result.history.items()}, step=epoch)
        mlflow.log_params(
            {
                "device": result.device,
                "replicas": result.replicas,
                "mixed_precision": result.mixed_precision,
                "model_builder": result.model_builder,
                "task": task_of(spec).kind,
                "early_stopping_metric": result.early_stopping_metric,
            }
        )
        mlflow.log_metrics(
            {
                f"best_{result.early_stopping_metric}": result.best_val_metric,
                "best_val_loss": result.best_val_loss,
                "train_seconds": result.train_seconds,
            }
        )
        # The export becomes an MLflow model in place, logged as this run's model "model" (see mlflow_model).
        from components.train import input_example, mlflow_model

        example = input_example.example_rows(spec, input_example.training_baseline(tracking_uri, pipeline_run_id))
        mlflow_model.log_model(export_dir, mlflow_model.spec_inputs(spec), example, spec.missing_values)
        mlflow.log_text(
            json.dumps({k: v for k, v in asdict(result).items() if k != "history"}, indent=2), "train/result.json"
        )
    return result
