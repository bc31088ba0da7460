"""`make mlflow-ui` starts only what the UI needs, and Ctrl-C or SIGTERM leaves no process of it behind."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes() -> dict[int, tuple[int, int, str]]:
    """Every live process (zombies left out): pid -> (parent pid, session id, command line), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended while we looked
            continue
        # After "(comm)": state, ppid, pgrp, session, ...; comm itself may hold spaces and parentheses.
        state, parent, _group, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if state != "Z":
            found[int(entry.name)] = (int(parent), int(session), command)
    return found


def session_of(sid: int) -> dict[int, str]:
    return {pid: command for pid, (_, session, command) in processes().items() if session == sid}


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_ui_runs_two_processes_and_stopping_it_ends_them_all(stop, tmp_mlflow_uri, tmp_path):
    port = free_port()
    output = tmp_path / "mlflow-ui.log"
    with output.open("w") as log:
        cli = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "mlflow-ui", "--port", str(port)],
            env={**os.environ, "MLFLOW_TRACKING_URI": tmp_mlflow_uri},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    assert response.status == 200
                break
            except OSError:
                assert cli.poll() is None, f"the UI exited before serving:\n{output.read_text()}"
                assert time.monotonic() < deadline, f"no answer on /health within 180 s:\n{output.read_text()}"
                time.sleep(1)
        (server,) = [pid for pid, (parent, _, _) in processes().items() if parent == cli.pid]
        started = session_of(server)
        # `mlflow server` (the session's leader) and its one uvicorn: no workers pool, no job-execution consumer.
        assert server in started and len(started) == 2, started
        assert not any("huey" in command for command in started.values()), started
        cli.send_signal(stop)
        assert cli.wait(timeout=60) == 0, output.read_text()
        assert session_of(server) == {}, output.read_text()
        assert "MLflow UI stopped" in output.read_text()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
