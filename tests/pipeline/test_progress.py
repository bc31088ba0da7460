"""The step display of `make run`: plain lines off a terminal, a live one on it, and what a failure shows."""

import io
from pathlib import Path

import pytest
from kfp import dsl, local

from pipelines.progress import StepDisplay, StepResult, duration, explain_failure
from pipelines.step_capture import StepCapture
from pipelines.summary import RunSummary

LOGS = Path("/runs/logs/tabular-training-1")
STEPS = [
    StepResult("validate", True, 4.21, LOGS / "validate.log", "10,000 rows validated, 0 of 41 expectations failed"),
    StepResult("transform", True, 31.0, LOGS / "transform.log", "rows per split: train 6,400, validation 1,600"),
    StepResult("train", True, 75.5, LOGS / "train.log", "2 epochs on CPU, best val AUC 0.6011"),
    StepResult(
        "evaluate",
        True,
        9.0,
        LOGS / "evaluate.log",
        "roc_auc 0.6052  accuracy 0.9183; blessed",
        ["gate WAIVED: champion could not be scored"],
    ),
    StepResult("push", True, 3.0, LOGS / "push.log", "version 1 -> file:///store/m/1; champion (was none)"),
]
# What a step's log holds when it raised: kfp.local's framing around the step's own output, indented by kfp.
FAILED_LOG = """\
12:00:00.001 - INFO - Executing task 'validate'
12:00:00.002 - INFO - Streamed logs:

    [KFP Executor 2026-01-01 12:00:01 INFO]: Looking for component `validate` in --component_module_path
    Traceback (most recent call last):
      File "<frozen runpy>", line 198, in _run_module_as_main
      File "/repo/components/validate/task.py", line 288, in run_validate_step
        summary = validate_data(data_path, spec, report_path, summary_path)
      File "/repo/components/validate/task.py", line 228, in validate_data
        raise DataValidationError(f"{data_path}: {len(critical)} critical expectation(s) failed:\\n{lines}", summary)
    components.validate.raw_file.DataValidationError: /tmp/x.csv: 1 critical expectation(s) failed:
      - column 'company': expected the column to exist, missing



12:00:05.000 - ERROR - Task 'validate' finished with status FAILURE
--------------------------------------------------------------------------------
"""


def plain_output(results: list[StepResult]) -> list[str]:
    stream = io.StringIO()
    with StepDisplay(stream) as display:
        display.run_started(LOGS)
        for result in results:
            display.step_started(result.name)
            display.step_ended(result)
    return stream.getvalue().splitlines()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_output_is_a_started_and_an_ended_line_per_step():
    assert plain_output(STEPS) == [
        f"logs       {LOGS}/",
        "validate   started",
        "validate   ok        4.2s  10,000 rows validated, 0 of 41 expectations failed",
        "transform  started",
        "transform  ok       31.0s  rows per split: train 6,400, validation 1,600",
        "train      started",
        "train      ok       1m16s  2 epochs on CPU, best val AUC 0.6011",
        "evaluate   started",
        "evaluate   ok        9.0s  roc_auc 0.6052  accuracy 0.9183; blessed",
        "  gate WAIVED: champion could not be scored",
        "push       started",
        "push       ok        3.0s  version 1 -> file:///store/m/1; champion (was none)",
    ]


def test_a_long_line_stays_one_line_in_a_pipe():
    figures = "x" * 300
    assert plain_output([StepResult("train", True, 1.0, LOGS / "train.log", figures)])[-1].endswith(figures)


def test_a_successful_run_with_its_summary_fits_in_forty_lines():
    summary = RunSummary(
        mlflow_run_id="846fea6e07364292bcb86de1ba4d6630",
        status="FINISHED",
        rows_validated=10_000,
        metrics={"roc_auc": 0.6, "accuracy": 0.9, "precision": 0.9, "recall": 1.0, "log_loss": 0.3},
        blessed=True,
        model_version="1",
        store_uri="file:///store/m/1",
        champion_decision="champion (was none)",
        error=None,
        steps=dict.fromkeys(["validate", "transform", "train", "evaluate", "push"], "FINISHED"),
        gate_reasons=["PASS: roc_auc", "WAIVED: champion could not be scored"],
    )
    # The header `_run` prints, the display, a blank line, "== pipeline finished ==" and the summary.
    printed = 1 + len(plain_output(STEPS)) + 2 + len(summary.render().splitlines())
    assert printed <= 40


def test_a_failure_shows_the_exception_the_frame_that_raised_it_and_the_log():
    why = explain_failure(FAILED_LOG)
    assert why == [
        '  File "/repo/components/validate/task.py", line 228, in validate_data',
        '    raise DataValidationError(f"{data_path}: {len(critical)} critical expectation(s) failed:\\n{lines}", '
        "summary)",
        "components.validate.raw_file.DataValidationError: /tmp/x.csv: 1 critical expectation(s) failed:",
        "  - column 'company': expected the column to exist, missing",
    ]
    lines = plain_output([StepResult("validate", False, 3.0, LOGS / "validate.log", details=why)])
    assert lines[-6] == "validate   FAILED    3.0s"
    assert lines[-2] == "    - column 'company': expected the column to exist, missing"
    assert lines[-1] == f"  log: {LOGS / 'validate.log'}"


def test_a_failure_without_a_traceback_shows_the_steps_last_lines():
    log = "12:00:00.001 - INFO - Executing task 'train'\n" + "".join(f"    epoch {n}\n" for n in range(30))
    log += "\n12:00:09.000 - ERROR - Task 'train' finished with status FAILURE\n" + "-" * 80 + "\n"
    assert explain_failure(log, keep=3) == ["epoch 27", "epoch 28", "epoch 29"]


def test_details_beyond_the_limit_point_to_the_log():
    reasons = [f"gate FAIL: slice {n}" for n in range(25)]
    lines = plain_output([StepResult("evaluate", True, 1.0, LOGS / "evaluate.log", "NOT blessed", reasons)])
    assert lines[-1] == "  ... 15 more in the log"
    assert len(lines) == 1 + 2 + 10 + 1


def test_on_a_terminal_only_the_finished_lines_stay():
    terminal = Terminal()
    with StepDisplay(terminal) as display:
        display.step_started("validate")
        display.step_ended(STEPS[0])
    text = terminal.getvalue()
    assert "10,000 rows validated" in text and "started" not in text


@pytest.mark.parametrize(("seconds", "shown"), [(0.04, "0.0s"), (59.94, "59.9s"), (60.2, "1m00s"), (3725, "62m05s")])
def test_durations(seconds, shown):
    assert duration(seconds) == shown


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def chatty() -> int:
    for number in range(200):
        print(f"chatter {number}")
    return 7


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def broken(value: int) -> int:
    raise ValueError(f"column 'company' is missing ({value})")


@dsl.pipeline(name="two-steps")
def two_steps() -> int:
    return broken(value=chatty().output).output


@pytest.mark.slow
def test_a_real_kfp_local_run_leaves_only_step_lines_on_screen(tmp_path, capfd):
    """The seam itself: kfp.local's task function wrapped, its output at fd level in the step logs."""
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    capture = StepCapture(tmp_path / "logs", lambda step, outputs: (f"returned {outputs['Output']}", []))
    with pytest.raises(RuntimeError, match="two-steps"), capture:
        two_steps()
    screen = capfd.readouterr()
    lines = screen.out.splitlines()
    (run,) = (tmp_path / "logs").iterdir()
    assert lines[0] == f"logs       {run}/"
    assert lines[1] == "chatty     started"
    assert lines[2].startswith("chatty     ok") and lines[2].endswith("returned 7")
    assert lines[3] == "broken     started" and lines[4].startswith("broken     FAILED")
    assert lines[-2] == "  ValueError: column 'company' is missing (7)"
    assert lines[-1] == f"  log: {run / 'broken.log'}"
    assert len(lines) <= 12 and screen.err == ""
    assert "chatter 199" in (run / "chatty.log").read_text()
    assert "Executing task" in (run / "broken.log").read_text()
    assert "Running pipeline" in (run / "pipeline.log").read_text()
