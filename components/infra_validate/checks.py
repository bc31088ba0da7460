"""What the candidate's server must do before push: start in time, answer the input example as the model
does in process, answer eval rows as evaluate scores them (to TOLERANCE), refuse a malformed request with
a 4xx, and answer single rows within the latency bound (p99).

The reference for the eval rows is evaluate's own scorer (components.evaluate.scoring.load_scorer: the
SavedModel's serving signature, then the task's predictions) on the same rows read by the same reader
(components.evaluate.eval_rows); evaluate keeps no per-row predictions, so they are scored here again.
The reference for the input example is the MLflow model loaded in this process with mlflow.pyfunc.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.pyfunc.scoring_server import infer_and_parse_data

from components.infra_validate.server import HOST

INVOCATIONS = "/invocations"
SERVING_EXAMPLE = "serving_input_example.json"
TOLERANCE = 1e-6
REQUEST_TIMEOUT_S = 30.0
# Task.predictions: a serving signature's outputs (NumPy) -> what evaluate scores.
Predictions = Callable[[Mapping[str, Any], int], np.ndarray]


class CheckFailed(Exception):
    """A check the server failed; `check` names it, the message says why."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check


def post(port: int, body: bytes, timeout_s: float = REQUEST_TIMEOUT_S) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        connection.request("POST", INVOCATIONS, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def served_outputs(check: str, status: int, answer: bytes, rows: int) -> dict[str, np.ndarray]:
    """The server's answer as the serving signature's outputs, one array per output; CheckFailed otherwise."""
    if status != 200:
        raise CheckFailed(check, f"the server answered {status}: {answer[:300]!r}")
    try:
        predictions = json.loads(answer)["predictions"]
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(check, f"the answer is not {{'predictions': [...]}}: {answer[:300]!r}") from None
    if not isinstance(predictions, list) or len(predictions) != rows:
        raise CheckFailed(check, f"the answer holds no {rows} predictions: {answer[:300]!r}")
    if not all(isinstance(row, dict) for row in predictions):
        raise CheckFailed(check, f"the predictions are not one record of outputs per row: {answer[:300]!r}")
    names = sorted(predictions[0]) if predictions else []
    return {name: np.asarray([row.get(name) for row in predictions]) for name in names}


def compare(check: str, served: np.ndarray, reference: np.ndarray) -> float:
    """The largest absolute difference; CheckFailed naming the first row beyond TOLERANCE (NaN counts)."""
    if served.shape != reference.shape:
        raise CheckFailed(check, f"the server answered shape {served.shape}, the reference is {reference.shape}")
    difference = np.abs(served.astype("float64") - reference.astype("float64"))
    beyond = ~(difference <= TOLERANCE)
    if beyond.any():
        row = int(np.argwhere(beyond)[0][0])
        raise CheckFailed(
            check,
            f"{int(beyond.reshape(len(beyond), -1).any(axis=1).sum())} of {len(served)} rows differ by more than "
            f"{TOLERANCE:g}; row {row}: served {served[row].tolist()}, reference {reference[row].tolist()}",
        )
    return float(difference.max()) if difference.size else 0.0


def input_example(model_dir: Path, port: int, predictions: Predictions) -> tuple[str, float] | None:
    """The model's serving input example, answered as the model loaded in process answers it; None without one."""
    path = model_dir / SERVING_EXAMPLE
    if not path.is_file():
        return None
    body = path.read_bytes()
    model = mlflow.pyfunc.load_model(str(model_dir))
    frame = infer_and_parse_data(json.loads(body), model.metadata.get_input_schema())
    expected = model.predict(frame)
    rows = len(frame)
    reference = predictions({name: np.asarray(expected[name].tolist()) for name in expected.columns}, rows)
    status, answer = post(port, body)
    served = predictions(served_outputs("input_example", status, answer, rows), rows)
    return f"{rows} example row(s) answered as in process", compare("input_example", served, reference)


def records(columns: Mapping[str, np.ndarray], types: Mapping[str, str], rows: Sequence[int]) -> list[dict]:
    """Rows of raw columns as a client sends them: NaN as null, whole numbers of an int column as ints, an
    image column's bytes (type "binary") in base64."""
    found = []
    for row in rows:
        record: dict[str, Any] = {}
        for name, values in columns.items():
            value = values[row]
            if isinstance(value, bytes) and types[name] == "binary":
                record[name] = base64.b64encode(value).decode("ascii")
            elif isinstance(value, bytes):
                record[name] = value.decode("utf-8")
            elif isinstance(value, str):
                record[name] = value
            elif math.isnan(value):
                record[name] = None
            else:
                record[name] = int(value) if types[name] == "int" else float(value)
        found.append(record)
    return found


def eval_rows(port: int, body: list[dict], served_predictions: Predictions, reference: np.ndarray) -> float:
    """The sample of eval rows, answered as evaluate scores them."""
    status, answer = post(port, json.dumps({"dataframe_records": body}).encode())
    served = served_predictions(served_outputs("eval_rows", status, answer, len(body)), len(body))
    return compare("eval_rows", served, reference)


MALFORMED = (
    b"{not json",
    json.dumps({"dataframe_records": [{"__no_such_column__": 1}]}).encode(),
)


def malformed_request(port: int) -> None:
    """Bodies no model can answer: each must be refused with a 4xx (not answered, not a 5xx)."""
    for body in MALFORMED:
        status, answer = post(port, body)
        if not 400 <= status < 500:
            raise CheckFailed("malformed_request", f"{body[:60]!r} got {status}, expected a 4xx: {answer[:200]!r}")


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    requests: int


def latency(port: int, body: list[dict], requests: int, bound_ms: float) -> Latency:
    """`requests` single-row requests one after another over one connection; their p99 must be within the bound."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
    times = []
    try:
        for index in range(requests):
            payload = json.dumps({"dataframe_records": [body[index % len(body)]]}).encode()
            started = time.perf_counter()
            connection.request("POST", INVOCATIONS, payload, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise CheckFailed("latency", f"a single-row request got {response.status}: {answer[:200]!r}")
    finally:
        connection.close()
    found = Latency(float(np.percentile(times, 50)), float(np.percentile(times, 99)), requests)
    if found.p99_ms > bound_ms:
        raise CheckFailed(
            "latency",
            f"p99 {found.p99_ms:.1f} ms over {requests} single-row requests exceeds the bound {bound_ms:g} ms "
            f"(p50 {found.p50_ms:.1f} ms)",
        )
    return found
