"""The infra-validate step, between evaluate and push: the blessed candidate must serve before it is pushed.

Its MLflow model is started in the serving runtime (components.infra_validate.server) and put through the
checks of components.infra_validate.checks, in order, stopping at the first that fails. The step logs
`infra_validated` (1/0) and, on a failure, the check (`failed_check`), why, and the server's log tail; the
server is always stopped. Push refuses a pipeline run whose infra validation did not pass
(components/push/blessing.py). A failed validation ends the pipeline's run, as a refusing gate does.
"""

from __future__ import annotations

import http.client
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import mlflow
import numpy as np

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.data.images import image_features
from components.evaluate.eval_rows import read_eval_columns
from components.evaluate.scoring import Scorer, load_scorer
from components.infra_validate import checks
from components.infra_validate.checks import CheckFailed
from components.infra_validate.server import ModelServer
from components.runs import step_runs
from components.tasks import Task, task_of

STEP = "infra-validate"
INFRA_VALIDATED = "infra_validated"
FAILED_CHECK_PARAM = "failed_check"
FAILURE_PARAM = "failure"
CHECKS_ARTIFACT = "infra_validation/checks.txt"
SERVER_LOG_ARTIFACT = "infra_validation/server_log_tail.txt"
T = TypeVar("T")


@dataclass(frozen=True)
class InfraSettings:
    """The bounds, each a pipeline parameter logged with the step's run."""

    start_timeout_s: float = 120.0
    latency_p99_ms: float = 500.0
    sample_rows: int = 200
    latency_requests: int = 50

    def __post_init__(self) -> None:
        for name in ("start_timeout_s", "latency_p99_ms"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and value > 0)
            ):
                raise ValueError(f"{name}={value!r}: expected a positive number")
        for name in ("sample_rows", "latency_requests"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a whole number of 1 or more")

    def to_params(self) -> dict[str, float | int]:
        return {
            "start_timeout_s": self.start_timeout_s,
            "latency_p99_ms": self.latency_p99_ms,
            "sample_rows": self.sample_rows,
            "latency_requests": self.latency_requests,
        }


@dataclass(frozen=True)
class InfraValidation:
    """What the checks found: every check that ran, one line each, and the first failure with the log tail."""

    passed: bool
    lines: tuple[str, ...]
    figures: dict[str, float] = field(default_factory=dict)
    failed_check: str = ""
    reason: str = ""
    log_tail: str = ""


def _checked(check: str, action: Callable[[], T]) -> T:
    """`action`'s result; a server that stops answering fails `check`."""
    try:
        return action()
    except (OSError, http.client.HTTPException) as error:
        raise CheckFailed(check, f"the server did not answer: {type(error).__name__}: {error}") from None


def _predictions(task: Task, check: str) -> Callable[[Mapping[str, Any], int], np.ndarray]:
    """The task's predictions from a signature's outputs; outputs the task refuses fail `check`."""

    def predictions(outputs: Mapping[str, Any], rows: int) -> np.ndarray:
        try:
            return task.predictions(outputs, rows)
        except ValueError as error:
            raise CheckFailed(check, f"its outputs are not the {task.kind} task's: {error}") from None

    return predictions


def validate_serving(
    model_dir: Path,
    eval_data_path: Path,
    spec: DatasetSpec,
    settings: InfraSettings,
    scorer: Scorer | None = None,
) -> InfraValidation:
    """Start the MLflow model at `model_dir` in the serving runtime and run every check against it.

    The served answers are compared with `scorer`'s (default: evaluate's scoring of its SavedModel; a
    compressed variant, which is no such SavedModel, passes its own pyfunc's)."""
    task = task_of(spec)
    dense = read_eval_columns(eval_data_path, spec)
    rows = min(settings.sample_rows, int(next(iter(dense.values())).shape[0]))
    sample = {name: dense[name][:rows] for name in spec.feature_columns}
    body = checks.records(
        {name: value.numpy() for name, value in sample.items()},
        {name: "binary" if name in image_features(spec) else spec.column(name).dtype for name in spec.feature_columns},
        range(rows),
    )
    lines: list[str] = []
    figures: dict[str, float] = {}
    failure: CheckFailed | None = None
    with tempfile.TemporaryDirectory(prefix="infra-validate-") as workdir:
        with ModelServer(model_dir, Path(workdir) / "server.log") as server:
            try:
                reference = (scorer or load_scorer(model_dir, task))(sample)  # while the server starts
                problem = server.wait_ready(settings.start_timeout_s)
                if problem:
                    raise CheckFailed("starts", problem)
                figures["start_seconds"] = server.ready_after_s or 0.0
                lines.append(f"PASS starts: answered /health after {figures['start_seconds']:.1f} s")
                _answers(server.port, model_dir, task, body, reference, settings, lines, figures)
            except CheckFailed as failed:
                failure = failed
                lines.append(f"FAIL {failed.check}: {failed}")
        tail = server.log_tail()  # after the stop: the log is complete
    if failure is None:
        return InfraValidation(True, tuple(lines), figures)
    return InfraValidation(False, tuple(lines), figures, failure.check, str(failure), tail)


def _answers(
    port: int,
    model_dir: Path,
    task: Task,
    body: list[dict],
    reference: np.ndarray,
    settings: InfraSettings,
    lines: list[str],
    figures: dict[str, float],
) -> None:
    """The checks of a started server, in order; each passed one adds its line and figures."""
    example = _checked(
        "input_example", lambda: checks.input_example(model_dir, port, _predictions(task, "input_example"))
    )
    if example is None:
        lines.append("SKIP input_example: the model was saved without a serving input example")
    else:
        figures["example_max_difference"] = example[1]
        lines.append(f"PASS input_example: {example[0]} (max difference {example[1]:.2g})")
    served = _predictions(task, "eval_rows")
    difference = _checked("eval_rows", lambda: checks.eval_rows(port, body, served, reference))
    figures["eval_max_difference"] = difference
    lines.append(
        f"PASS eval_rows: {len(body)} eval rows answered as evaluate scores them (max difference {difference:.2g})"
    )
    _checked("malformed_request", lambda: checks.malformed_request(port))
    lines.append(f"PASS malformed_request: {len(checks.MALFORMED)} malformed requests refused with a 4xx")
    latency = _checked(
        "latency", lambda: checks.latency(port, body, settings.latency_requests, settings.latency_p99_ms)
    )
    figures.update(latency_p50_ms=latency.p50_ms, latency_p99_ms=latency.p99_ms)
    lines.append(
        f"PASS latency: p99 {latency.p99_ms:.1f} ms (p50 {latency.p50_ms:.1f} ms) over {latency.requests} "
        f"single-row requests, bound {settings.latency_p99_ms:g} ms"
    )


def run_infra_validate_step(
    model_dir: Path,
    eval_data_path: Path,
    dataset: str,
    tracking_uri: str,
    pipeline_run_id: str,
    settings: InfraSettings,
) -> InfraValidation:
    """The pipeline step, inside its MLflow run; returns whether the candidate serves."""
    spec = get_spec(dataset)
    with step_runs.step_run(tracking_uri, pipeline_run_id, STEP):
        mlflow.log_params(settings.to_params())
        result = validate_serving(Path(model_dir), Path(eval_data_path), spec, settings)
        mlflow.log_metrics({**result.figures, INFRA_VALIDATED: float(result.passed)})
        mlflow.log_text("\n".join(result.lines) + "\n", CHECKS_ARTIFACT)
        if not result.passed:
            mlflow.log_params({FAILED_CHECK_PARAM: result.failed_check, FAILURE_PARAM: result.reason[:500]})
            mlflow.log_text(result.log_tail + "\n", SERVER_LOG_ARTIFACT)
    for line in result.lines:
        print(f"{STEP}: {line}")
    if not result.passed:
        print(f"{STEP}: the server's log, last lines:\n{result.log_tail}")
        step_runs.finish_pipeline_run(tracking_uri, pipeline_run_id)
    return result
