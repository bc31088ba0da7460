"""`make mlflow-ui`: MLflow's server over the pipeline's store, on loopback, and only what the UI needs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def serve_mlflow_ui(tracking_uri: str, port: int) -> int:
    """Serve the MLflow UI, and only it; Ctrl-C or SIGTERM stops every process it started.

    By default MLflow 3's server starts four uvicorn workers and a job-execution consumer (huey) with
    workers of its own, for GenAI jobs this project never runs: about fifteen processes. One worker and
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false leave two, `mlflow server` and its uvicorn. They run in a
    session of their own (a Ctrl-C reaches only this process), whose process group is stopped on the
    way out: SIGTERM, then SIGKILL to whatever is left after 10 s.
    """
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, interrupt) for number in stopping}
    print(f"MLflow UI on http://127.0.0.1:{port} over {tracking_uri} (Ctrl-C stops it)")
    sys.stdout.flush()
    server = subprocess.Popen(
        command, env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, start_new_session=True
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for number in stopping:
            signal.signal(number, signal.SIG_IGN)
        for kill in (signal.SIGTERM, signal.SIGKILL):
            deadline = time.monotonic() + 10
            try:
                os.killpg(server.pid, kill)
                while time.monotonic() < deadline:
                    server.poll()  # reaps the group's leader, which would otherwise linger as a zombie
                    os.killpg(server.pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                break
        for number, handler in previous.items():
            signal.signal(number, handler)
        print("MLflow UI stopped")
