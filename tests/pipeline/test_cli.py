"""The command line behind the Makefile: clear refusals before any pipeline starts."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from components.common import tracking
from components.common.specs import get_spec
from pipelines.__main__ import main


@pytest.fixture
def env(monkeypatch):
    for name in ("DATASET", "DATA_URI", "EPOCHS", "MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_run_refuses_a_missing_data_file(env, tmp_path, capsys):
    env.setenv("DATASET", "chicago_taxi")
    env.setenv("DATA_URI", str(tmp_path / "nowhere.csv"))
    assert main(["run"]) == 2
    assert f"DATA_URI {tmp_path / 'nowhere.csv'} does not exist" in capsys.readouterr().err


def test_bad_settings_exit_before_running(env, capsys):
    env.setenv("EPOCHS", "many")
    assert main(["run"]) == 2
    assert "settings: EPOCHS must be a positive integer, got 'many'" in capsys.readouterr().err


def test_data_materializes_the_default_dataset_in_spec_order(env, tmp_path, capsys):
    target = tmp_path / "churn.csv"
    env.setenv("DATA_URI", str(target))
    assert main(["data"]) == 0
    with target.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == get_spec("mlc_churn").column_names
    assert len(rows) == 5_000
    assert main(["data"]) == 0
    assert "already exists" in capsys.readouterr().out


def test_data_refuses_a_dataset_that_is_not_bundled(env, tmp_path, capsys):
    env.setenv("DATASET", "chicago_taxi")
    env.setenv("DATA_URI", str(tmp_path / "trips.csv"))
    assert main(["data"]) == 2
    assert "DATASET=chicago_taxi is not bundled" in capsys.readouterr().err


@pytest.mark.slow
def test_mlflow_ui_serves_the_same_store_on_loopback(env, tmp_mlflow_uri):
    """`make mlflow-ui` is a real MLflow server on 127.0.0.1 over the pipeline's store."""
    run_id = tracking.start_pipeline_run(tmp_mlflow_uri, "ui-check", "job-ui", {"dataset": "modeldata_taxi"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "mlflow-ui", "--port", str(port)],
        env={**os.environ, "MLFLOW_TRACKING_URI": tmp_mlflow_uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={run_id}"
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    answer = json.load(response)
                break
            except OSError:
                assert server.poll() is None, "the MLflow UI exited before serving"
                assert time.monotonic() < deadline, "the MLflow UI did not answer within 180 s"
                time.sleep(1)
        assert answer["run"]["info"]["run_name"] == "job-ui"
        assert {"key": "dataset", "value": "modeldata_taxi"} in answer["run"]["data"]["params"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
