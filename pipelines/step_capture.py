"""Each kfp.local task's output into its own log file, and a line per step on the screen instead.

kfp.local has no hook for this. Its orchestrators run every task through
`kfp.local.task_dispatcher.run_single_task_implementation` (kfp 2.17, the locked version, calls
it as a module attribute with keyword arguments only): it logs the task's start, runs its
subprocess, streams that output through this process's stdout, logs the outputs and returns
`(outputs, status)`. tests/pipeline/test_progress.py runs a real kfp.local pipeline through it, so
a kfp upgrade that moves it fails there. StepCapture wraps
that one function and, around each call, points this process's file descriptors 1 and 2 at
`build/logs/<run>/<step>.log` (`<run>` is kfp's pipeline resource name, also the MLflow run's name).
Working at descriptor level catches everything: kfp's prints and log records, the step's TensorFlow,
Beam and Great Expectations output, and C libraries writing to fd 2. Output between tasks (kfp's
pipeline-level lines, its warnings) goes to `pipeline.log` in the same folder. The display writes to
a duplicate of the original stdout, taken before the redirection. Tasks run one at a time: these
pipelines have no ParallelFor, the only construct kfp.local runs in threads.

The figures come from what kfp.local returns for the task, i.e. its executor output under the
pipeline root: output parameters and artifact metadata (and the validation summary file validate
writes). They exist the moment the task ends, for every step; MLflow would not do for transform,
whose step run train records later. Two figures are not task outputs and are read from MLflow: the
gate's reasons (the evaluate run's `evaluation/decision.txt`) and whether the pushed version became
champion (its registry tag).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Callable, Mapping, TextIO

from kfp.local import executor_input_utils, status, task_dispatcher

from components.common import tracking
from components.runs.settings import PROJECT_ROOT, Settings
from pipelines.progress import StepDisplay, StepResult, explain_failure
from pipelines.summary import summary_metrics

LOG_ROOT = PROJECT_ROOT / "build" / "logs"
Outputs = Mapping[str, Any]
# A step's headline and the lines under it, from its name and kfp.local's outputs for it.
Figures = Callable[[str, Outputs], tuple[str, list[str]]]


class StepFigures:
    """The headline of each step of the training and monitoring pipelines; see the module's docstring."""

    def __init__(self, tracking_uri: str, model_name: str, dataset: str) -> None:
        self._tracking_uri = tracking_uri
        self._model_name = model_name
        self._metrics = summary_metrics(dataset)
        # Validate opens the pipeline's MLflow run; evaluate's reasons are read under it.
        self._pipeline_run_id: str | None = None
        self._readers: dict[str, Callable[[Outputs], tuple[str, list[str]]]] = {
            "validate": self._validate,
            "transform": self._transform,
            "tune": self._tune,
            "train": self._train,
            "evaluate": self._evaluate,
            "infra-validate": self._infra_validate,
            "push": self._push,
            "monitor": self._monitor,
        }

    def __call__(self, step: str, outputs: Outputs) -> tuple[str, list[str]]:
        from mlflow.exceptions import MlflowException

        reader = self._readers.get(step)
        if reader is None:
            return "", []
        try:
            return reader(outputs)
        except (KeyError, OSError, TypeError, ValueError, MlflowException) as error:
            # A figure that cannot be read must not fail a run that succeeded.
            return f"(figures unavailable: {type(error).__name__}: {error})", []

    def _validate(self, outputs: Outputs) -> tuple[str, list[str]]:
        self._pipeline_run_id = outputs["mlflow_run_id"]
        summary = json.loads(Path(outputs["summary"].path).read_text(encoding="utf-8"))
        failed, evaluated = summary["expectations_failed"], summary["expectations_evaluated"]
        return f"{outputs['row_count']:,} rows validated, {failed} of {evaluated} expectations failed", []

    def _transform(self, outputs: Outputs) -> tuple[str, list[str]]:
        rows = outputs["transformed_examples"].metadata
        splits = ", ".join(f"{split} {int(rows[f'{split}_rows']):,}" for split in ("train", "validation", "eval"))
        return f"rows per split: {splits}", []

    def _tune(self, outputs: Outputs) -> tuple[str, list[str]]:
        # KFP hands lists of numbers on as JSON numbers, so the layer sizes arrive as floats.
        units = [int(size) for size in outputs["hidden_units"]]
        rate, batch = outputs["learning_rate"], int(outputs["batch_size"])
        chosen = (
            f"learning_rate {f'{rate:g}' if rate else 'for the data'}, hidden_units {units}, "
            f"dropout {outputs['dropout']:g}, batch_size {batch or 'for the data'}"
        )
        return f"train gets {chosen}; {outputs['search']}", []

    def _train(self, outputs: Outputs) -> tuple[str, list[str]]:
        model = outputs["model"].metadata
        epochs = int(model["epochs_run"])
        plural = "" if epochs == 1 else "s"
        watched = model.get("early_stopping_metric", "validation metric")
        batches = ""
        if "batch_size" in model:
            batches = f", batch {int(model['batch_size'])}, learning rate {model['learning_rate']:.2g}"
        return f"{epochs} epoch{plural} on {model['device']}{batches}, best {watched} {outputs['Output']:.4f}", []

    def _evaluate(self, outputs: Outputs) -> tuple[str, list[str]]:
        values = outputs["metrics"].metadata
        metrics = "  ".join(f"{name} {values[name]:.4f}" for name in self._metrics if name in values)
        verdict = "blessed" if outputs["Output"] else "NOT blessed"
        reasons = [line for line in self._gate_reasons() if line.startswith(("FAIL", "WAIVED"))]
        return f"{metrics}; {verdict}", [f"gate {reason}" for reason in reasons]

    def _infra_validate(self, outputs: Outputs) -> tuple[str, list[str]]:
        if outputs["Output"]:
            return "serves: started and answered as evaluate scored, within the latency bound", []
        return "does NOT serve: not pushed (the step's log names the check and shows the server's log)", []

    def _push(self, outputs: Outputs) -> tuple[str, list[str]]:
        version = outputs["model_version"]
        tags = tracking.client(self._tracking_uri).get_model_version(self._model_name, version).tags
        decision = tags.get(tracking.CHAMPION_DECISION_TAG, "champion decision not recorded")
        return f"version {version} -> {outputs['store_uri']}; {decision}", []

    def _monitor(self, outputs: Outputs) -> tuple[str, list[str]]:
        summary = json.loads(Path(outputs["drift_summary"].path).read_text(encoding="utf-8"))
        return f"{summary['rows']:,} rows, {summary['verdict'].splitlines()[-1]}", []

    def _gate_reasons(self) -> list[str]:
        import mlflow

        if self._pipeline_run_id is None:
            return []
        client = tracking.client(self._tracking_uri)
        experiment = client.get_run(self._pipeline_run_id).info.experiment_id
        runs = client.search_runs(
            [experiment],
            filter_string=f"tags.mlflow.parentRunId = '{self._pipeline_run_id}' and tags.step = 'evaluate'",
            max_results=1,
        )
        if not runs:
            return []
        return mlflow.artifacts.load_text(f"runs:/{runs[0].info.run_id}/{tracking.GATE_DECISION_ARTIFACT}").splitlines()


class StepCapture:
    """While active: every task's output in its log file, the step lines on the original stdout."""

    def __init__(
        self, log_root: Path, figures: Figures, display_for: Callable[[TextIO], StepDisplay] = StepDisplay
    ) -> None:
        self._log_root = log_root
        self._figures = figures
        self._display_for = display_for
        self._run_dir: Path | None = None

    def __enter__(self) -> StepCapture:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self._saved = (os.dup(1), os.dup(2))
        self._terminal = os.fdopen(os.dup(self._saved[0]), "w", buffering=1, encoding="utf-8")
        # Python-level streams that are not fds 1 and 2 (pytest's capture, a notebook's) are swapped too.
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = (open(fd, "w", buffering=1, encoding="utf-8", closefd=False) for fd in (1, 2))
        self._display = self._display_for(self._terminal).__enter__()
        # Until the first task names the run, kfp's output waits here; it then opens pipeline.log.
        self._between: IO[bytes] = tempfile.TemporaryFile()
        self._route(self._between.fileno())
        self._original = task_dispatcher.run_single_task_implementation
        task_dispatcher.run_single_task_implementation = self._run_task
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        task_dispatcher.run_single_task_implementation = self._original
        for stream in (sys.stdout, sys.stderr):
            stream.close()
        sys.stdout, sys.stderr = self._streams
        for target, saved in enumerate(self._saved, start=1):
            os.dup2(saved, target)
            os.close(saved)
        if self._run_dir is None:
            # No task started: what kfp wrote belongs on the screen (there is no log to point to).
            self._between.seek(0)
            os.write(2, self._between.read())
        self._between.close()
        self._display.__exit__(kind, error, trace)
        self._terminal.close()

    def _route(self, descriptor: int) -> None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)

    def _open_run(self, pipeline_resource_name: str) -> Path:
        if self._run_dir is None:
            self._run_dir = self._log_root / pipeline_resource_name
            self._run_dir.mkdir(parents=True, exist_ok=True)
            pipeline_log = (self._run_dir / "pipeline.log").open("ab")
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            self._between.seek(0)
            shutil.copyfileobj(self._between, pipeline_log)
            pipeline_log.flush()
            self._between.close()
            self._between = pipeline_log
            self._display.run_started(self._run_dir)
        return self._run_dir

    def _run_task(self, **arguments: Any) -> tuple[Outputs, status.Status]:
        name = executor_input_utils.get_local_task_resource_name(arguments["component_name"])
        log = self._open_run(arguments["pipeline_resource_name"]) / f"{name}.log"
        self._display.step_started(name)
        started = time.monotonic()
        outputs: Outputs = {}
        state = status.Status.FAILURE
        try:
            with log.open("ab") as handle:
                self._route(handle.fileno())
                try:
                    outputs, state = self._original(**arguments)
                finally:
                    self._route(self._between.fileno())
        finally:
            seconds = time.monotonic() - started
            if state == status.Status.SUCCESS:
                figures, details = self._figures(name, outputs)
                result = StepResult(name, True, seconds, log, figures, details)
            else:
                why = explain_failure(log.read_text(encoding="utf-8", errors="replace"))
                result = StepResult(name, False, seconds, log, details=why)
            self._display.step_ended(result)
        return outputs, state


def capture_for_cli(settings: Settings, environ: Mapping[str, str] = os.environ) -> StepCapture | None:
    """The capture `make run` and `make monitor` use; none with VERBOSE=1, which streams everything."""
    if environ.get("VERBOSE", "") not in ("", "0"):
        return None
    return StepCapture(LOG_ROOT, StepFigures(settings.mlflow_tracking_uri, settings.model_name, settings.dataset))
