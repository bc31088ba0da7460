"""Latency through the HTTP server `make serve` runs: raw rows as JSON in, predictions out.

`python -m bench.serving_http --model DIR --rows CSV --result JSON` starts `python -m components.serve
serve` on a free loopback port over the model (a bare SavedModel is made an MLflow model first, as the
train step makes its export one), then times single POSTs of `dataframe_split` bodies at batch 1 and
256 on one kept-alive connection, after a warm-up, on real rows of the eval split. Beside the in-process
figures of bench/serving.py, the difference is the price of HTTP, JSON and MLflow's schema checks.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.measure import write_json

WARM_UP = 10
STARTUP_S = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _mlflow_model(model: Path, scratch: Path) -> Path:
    if (model / "MLmodel").is_file():
        return model
    from components.train.mlflow_model import make_mlflow_model, saved_model_inputs

    copy = scratch / "model"
    shutil.copytree(model, copy)
    make_mlflow_model(copy, saved_model_inputs(copy), None)
    return copy


def _bodies(model: Path, rows: Path, batch: int, calls: int) -> list[bytes]:
    """`calls` request bodies of `batch` rows each, taken in turn from the CSV (wrapping around)."""
    from mlflow.models import Model

    schema = Model.load(str(model / "MLmodel")).get_input_schema()
    text = [spec.name for spec in schema.inputs if spec.type.name == "string"]
    frame = pd.read_csv(rows, dtype=dict.fromkeys(text, object))[schema.input_names()]
    numbers = [name for name in schema.input_names() if name not in text]
    frame[numbers] = frame[numbers].astype("float64")
    bodies = []
    for start in range(0, calls * batch, batch):
        picked = frame.iloc[[(start + i) % len(frame) for i in range(batch)]]
        bodies.append(('{"dataframe_split": ' + picked.to_json(orient="split", index=False) + "}").encode())
    return bodies


def latencies_ms(port: int, bodies: list[bytes]) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}

    def post(body: bytes) -> None:
        connection.request("POST", "/invocations", body, headers)
        reply = connection.getresponse()
        payload = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"the server answered {reply.status}: {payload[:500]!r}")

    for body in bodies[:WARM_UP]:
        post(body)
    timings = []
    for body in bodies:
        started = time.perf_counter()
        post(body)
        timings.append((time.perf_counter() - started) * 1000)
    connection.close()
    return timings


def _start(model: Path, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "components.serve", "serve", "--model-uri", str(model), "--port", str(port)]
    with log.open("w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy())
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving_http", description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as scratch:
        model = _mlflow_model(args.model, Path(scratch))
        port = _free_port()
        server = _start(model, port, Path(scratch) / "server.log")
        try:
            result: dict[str, object] = {}
            for batch in (1, 256):
                timings = latencies_ms(port, _bodies(model, args.rows, batch, args.calls))
                result[str(batch)] = {
                    "p50_ms": float(np.percentile(timings, 50)),
                    "p99_ms": float(np.percentile(timings, 99)),
                    "calls": len(timings),
                }
            result["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
        finally:
            server.terminate()
            server.wait(timeout=30)
    write_json(args.result, result)


if __name__ == "__main__":
    main()
