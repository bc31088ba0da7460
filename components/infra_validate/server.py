"""The candidate in the serving runtime: the ServingRuntime's own command (infra/kserve/servingruntime.yaml)
over the candidate's MLflow model, in a fresh process on a free loopback port.

The pipeline image is the serving image, so inside the step's pod this is a process of the image the
cluster serves with; locally (kfp.local, tests) it is the checkout's interpreter. Only the model folder,
host and port differ from the runtime's arguments (tests/unit/test_infra_validate.py compares them).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
HEALTH = "/health"
LOG_TAIL_LINES = 40
STOP_TIMEOUT_S = 10.0


def server_arguments(model_dir: Path, port: int) -> list[str]:
    """The runtime's arguments after its interpreter: `-m components.serve serve ...`."""
    return [
        "-m", "components.serve", "serve", "--model-uri", str(model_dir), "--host", HOST, "--port", str(port),
        "--request-log", "-",
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class ModelServer:
    """The server process, its log in a file; a context manager that always stops it (its whole group)."""

    def __init__(self, model_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.started = time.monotonic()
        self.ready_after_s: float | None = None
        self._process = subprocess.Popen(
            [sys.executable, *server_arguments(model_dir, self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its own process group, so that stopping it stops its children too
        )

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def wait_ready(self, timeout_s: float) -> str | None:
        """None once GET /health answers 200 within `timeout_s` of the start; else why not, in one line."""
        deadline = self.started + timeout_s
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                return f"the server exited with code {code} before it answered {HEALTH}"
            try:
                with urllib.request.urlopen(self.url + HEALTH, timeout=2.0) as response:
                    if response.status == 200:
                        self.ready_after_s = time.monotonic() - self.started
                        return None
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        return f"the server did not answer {HEALTH} within {timeout_s:g} s"

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._log.close()

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
