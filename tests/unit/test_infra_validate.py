"""The infra-validate step on a real trained model and variants of its MLflow model, each started by the step
in the real server (the ServingRuntime's command) on a loopback port and asked over real HTTP.

The variants change only the MLflow model's pyfunc loader: one names a module that does not exist (it cannot
start), one scales the answers (the SavedModel evaluate scores is unchanged), one sleeps before answering.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pytest
import yaml
from gate_records import record_gate
from test_serving_support import DATASET, SPEC, Champion

from components.common import tracking
from components.infra_validate import task as infra
from components.infra_validate.server import HOST, server_arguments
from components.infra_validate.task import InfraSettings, run_infra_validate_step, validate_serving
from components.push import blessing
from components.push.task import NotBlessedError, push_model
from pipelines.summary import summarize

ROOT = Path(__file__).resolve().parents[2]
MODEL_NAME = "taxi-infra"
VARIANT = '''"""A test's variant of the project's pyfunc: the same model, its answers scaled and delayed."""
import time

from mlflow_model import _load_pyfunc as _load_raw


class Variant:
    def __init__(self, model):
        self._model = model

    def predict(self, data, params=None):
        time.sleep({sleep_s})
        answer = self._model.predict(data)
        scaled = [name for name in answer.columns if answer[name].dtype.kind == "f"]
        return answer.assign(**{{name: answer[name] * {scale} for name in scaled}})


def _load_pyfunc(path, model_config=None):
    return Variant(_load_raw(path, model_config))
'''


def _eval_csv(champion: Champion) -> Path:
    return champion.export_dir.parent / "eval.csv"  # transform's eval split (test_serving_support)


def _variant(champion: Champion, root: Path, loader: str, scale: float = 1.0, sleep_s: float = 0.0) -> Path:
    """A copy of the champion's MLflow model whose python_function flavor loads `loader` from code/; a `variant_`
    loader is written there (each its own name: a process imports a module name once)."""
    model = root / f"model-{loader}"
    shutil.copytree(champion.export_dir, model)
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    mlmodel["flavors"]["python_function"]["loader_module"] = loader
    (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    if loader.startswith("variant_"):
        (model / "code" / f"{loader}.py").write_text(VARIANT.format(scale=scale, sleep_s=sleep_s))
    return model


def _processes_naming(path: Path) -> list[str]:
    """Command lines of the running processes that name `path`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and str(path) in command:
            found.append(command)
    return found


def test_the_server_is_the_serving_runtimes_command() -> None:
    runtime = yaml.safe_load((ROOT / "infra" / "kserve" / "servingruntime.yaml").read_text())
    (container,) = runtime["spec"]["containers"]
    interpreter, *arguments = container["command"]
    assert interpreter == "python3"
    served_there = [HOST if value == "0.0.0.0" else value for value in arguments]
    assert server_arguments(Path("/mnt/models"), 8080) == served_there


def test_push_reads_what_the_step_logs() -> None:
    assert (blessing.INFRA_STEP, blessing.INFRA_METRIC, blessing.INFRA_CHECK_PARAM) == (
        infra.STEP,
        infra.INFRA_VALIDATED,
        infra.FAILED_CHECK_PARAM,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("start_timeout_s", 0), ("latency_p99_ms", float("nan")), ("sample_rows", 0), ("latency_requests", 2.5)],
)
def test_a_bound_that_is_no_bound_is_refused_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field}="):
        InfraSettings(**{field: value})


def test_the_trained_model_serves_and_passes_every_check(champion: Champion) -> None:
    result = validate_serving(champion.export_dir, _eval_csv(champion), SPEC, InfraSettings(sample_rows=100))

    print("\n".join(result.lines))  # shown with the test's report (pytest -rP)
    assert result.passed, result.lines
    assert [line.split(":")[0] for line in result.lines] == [
        "PASS starts",
        "PASS input_example",
        "PASS eval_rows",
        "PASS malformed_request",
        "PASS latency",
    ]
    assert result.figures["eval_max_difference"] <= 1e-6 and result.figures["example_max_difference"] <= 1e-6
    assert 0 < result.figures["latency_p50_ms"] <= result.figures["latency_p99_ms"] <= 500
    assert result.failed_check == "" and result.log_tail == ""


def _pipeline_run(champion: Champion, job: str) -> str:
    """A pipeline run in the champion's store (push checks that the MLflow model's logged model is there)."""
    return tracking.start_pipeline_run(champion.tracking_uri, "infra-tests", job, {"epochs": 1})


def test_a_model_that_cannot_start_is_refused_with_the_log_tail_and_not_pushed(
    champion: Champion, tmp_path: Path
) -> None:
    broken = _variant(champion, tmp_path, "no_such_loader_module")
    uri, run = champion.tracking_uri, _pipeline_run(champion, "job-infra-broken")
    record_gate(uri, run, "none", serves=None)  # blessed by its gate; the real step follows

    result = run_infra_validate_step(broken, _eval_csv(champion), DATASET, uri, run, InfraSettings())

    assert not result.passed and result.failed_check == "starts"
    assert result.lines[-1].startswith("FAIL starts: the server exited with code")
    assert "No module named 'no_such_loader_module'" in result.log_tail
    client = tracking.client(uri)
    (step,) = client.search_runs(
        [client.get_run(run).info.experiment_id], f"tags.mlflow.parentRunId = '{run}' and tags.step = '{infra.STEP}'"
    )
    assert step.data.metrics[infra.INFRA_VALIDATED] == 0.0 and step.data.params[infra.FAILED_CHECK_PARAM] == "starts"
    logged = mlflow.artifacts.load_text(f"runs:/{step.info.run_id}/{infra.SERVER_LOG_ARTIFACT}")
    assert "no_such_loader_module" in logged

    for force_push in (False, True):  # force never overrides an infra validation that failed
        with pytest.raises(NotBlessedError, match="did not pass infra validation .*failed check: starts"):
            push_model(broken, str(tmp_path / "store"), MODEL_NAME, uri, run, force_push=force_push)
    assert client.search_registered_models(f"name = '{MODEL_NAME}'") == [] and not (tmp_path / "store").exists()
    summary = summarize(uri, run, MODEL_NAME, DATASET).render()
    assert "serves          no: starts: the server exited with code" in summary
    assert "pushed          no (the model did not pass infra validation; champion unchanged)" in summary


def test_a_blessed_model_is_pushed_only_once_infra_validated(champion: Champion, tmp_path: Path) -> None:
    uri, run = champion.tracking_uri, _pipeline_run(champion, "job-infra-none")
    record_gate(uri, run, "none", serves=None)
    with pytest.raises(NotBlessedError, match=f"pipeline run {run} has no finished infra-validate step run"):
        push_model(champion.export_dir, str(tmp_path / "store"), MODEL_NAME, uri, run)
    assert not (tmp_path / "store").exists()

    run = _pipeline_run(champion, "job-infra-passed")
    record_gate(uri, run, "none")  # ... and infra-validated
    pushed = push_model(champion.export_dir, str(tmp_path / "store"), MODEL_NAME, uri, run)
    version = tracking.client(uri).get_model_version(MODEL_NAME, pushed.model_version)
    assert version.tags[blessing.INFRA_VALIDATED_BY_TAG]


def test_a_model_answering_otherwise_than_evaluate_is_refused_naming_the_check(
    champion: Champion, tmp_path: Path
) -> None:
    scaled = _variant(champion, tmp_path, "variant_scaled", scale=0.99)

    result = validate_serving(scaled, _eval_csv(champion), SPEC, InfraSettings(sample_rows=50))

    assert not result.passed and result.failed_check == "eval_rows"
    assert [line.split(":")[0] for line in result.lines] == ["PASS starts", "PASS input_example", "FAIL eval_rows"]
    assert "rows differ by more than 1e-06" in result.reason and result.log_tail


def test_a_model_slower_than_the_bound_is_refused(champion: Champion, tmp_path: Path) -> None:
    slow = _variant(champion, tmp_path, "variant_slow", sleep_s=0.15)
    settings = InfraSettings(latency_p99_ms=100, sample_rows=20, latency_requests=8)

    result = validate_serving(slow, _eval_csv(champion), SPEC, settings)

    assert not result.passed and result.failed_check == "latency"
    assert result.lines[-2] == "PASS malformed_request: 2 malformed requests refused with a 4xx"
    assert "over 8 single-row requests exceeds the bound 100 ms" in result.reason


def test_a_server_slower_to_start_than_the_bound_is_refused_and_stopped(champion: Champion, tmp_path: Path) -> None:
    model = tmp_path / "model-late"
    shutil.copytree(champion.export_dir, model)

    result = validate_serving(model, _eval_csv(champion), SPEC, InfraSettings(start_timeout_s=0.5))

    assert result.failed_check == "starts" and result.reason == "the server did not answer /health within 0.5 s"
    assert _processes_naming(model) == []
