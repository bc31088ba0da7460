"""The inference server: MLflow's scoring server (what `mlflow models serve` runs) over one MLflow model,
with the request log the drift check reads.

MLServer (the V2 protocol server KServe's MLflow runtime uses) is not used: it cannot join
requirements.lock (mlserver 1.7.1 needs fastapi < 0.116, starlette 0.46 and importlib-resources < 7,
where the lock has fastapi 0.165.0, starlette 1.10.0 and importlib-resources 7.1.0, and it moves
TensorFlow's ml-dtypes from 0.6.0 to 0.5.4). So the protocol is MLflow's: POST /invocations with
`dataframe_records` or `dataframe_split`, GET /ping and /health. The model's signature names every raw
column: a request that lacks one, holds text where a number belongs, or holds a value training refuses
(a null or missing spelling in a never-missing column, inf, 3.5 in an int column: the model's own check,
components/train/mlflow_model.py) gets a 400 naming the column; a missing spelling elsewhere is missing.

With a request log, each row of every answered request becomes one JSON line of its raw values (null
where missing) and the request's id: what `make monitor` reads as JSON lines (components/monitor/task.py).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import IO, Any, Mapping

import mlflow
import pandas as pd
from mlflow.pyfunc import PyFuncModel
from mlflow.pyfunc.scoring_server import infer_and_parse_data, init
from mlflow.types.schema import DataType

from components.common.specs.base import Drop, Treatment
from components.common.specs.privacy_values import needs_key, pseudonymize_key, treat_value

REQUEST_ID = "request_id"
INVOCATIONS = "/invocations"


class RequestLog:
    """Appends one JSON line per row of each answered request; `-` writes them to standard output.

    A sensitive column (the spec's `sensitive`) is logged treated, as the model's graph treats it, never raw.
    """

    def __init__(self, destination: str, input_schema: Any, sensitive: Mapping[str, Treatment] | None = None) -> None:
        self._schema = input_schema
        self._sensitive = dict(sensitive or {})
        self._key = pseudonymize_key() if needs_key(self._sensitive) else None
        self._lock = threading.Lock()
        self._stream: IO[str] = sys.stdout if destination == "-" else Path(destination).open("a", encoding="utf-8")
        self.columns = [name for name in input_schema.input_names() if not isinstance(self._sensitive.get(name), Drop)]
        # An image column's bytes are logged base64-encoded, as the request sent them.
        self._binary = [column.name for column in input_schema.inputs if column.type == DataType.binary]

    def write(self, body: bytes) -> None:
        frame = infer_and_parse_data(json.loads(body), self._schema)
        if not isinstance(frame, pd.DataFrame):
            return
        rows = frame[[name for name in self.columns if name in frame.columns]].copy()
        for name in set(rows.columns) & set(self._sensitive):
            rows[name] = [
                None if pd.isna(value) else treat_value(self._sensitive[name], value, self._key)
                for value in rows[name].tolist()
            ]
        for name in set(rows.columns) & set(self._binary):
            rows[name] = [
                base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value for value in rows[name]
            ]
        lines = rows.assign(**{REQUEST_ID: uuid.uuid4().hex}).to_json(orient="records", lines=True)
        with self._lock:
            self._stream.write(lines if lines.endswith("\n") else lines + "\n")
            self._stream.flush()


def build_app(
    model: PyFuncModel, request_log: str | None = None, sensitive: Mapping[str, Treatment] | None = None
) -> Any:
    """MLflow's scoring app for `model`; with `request_log`, answered requests are logged there (treated)."""
    app = init(model)
    if not request_log:
        return app
    from starlette.requests import Request

    log = RequestLog(request_log, model.metadata.get_input_schema(), sensitive)

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Any) -> Any:
        body = await request.body() if request.method == "POST" and request.url.path == INVOCATIONS else None
        response = await call_next(request)
        if body is not None and response.status_code == 200:
            log.write(body)
        return response

    return app


SERVING_EXAMPLE = "serving_input_example.json"


def load(model_uri: str, workdir: Path) -> tuple[PyFuncModel, str | None]:
    """The MLflow model at `model_uri` (a folder, or models:/<name>/<n> copied into `workdir`) loaded with
    pyfunc, and its serving input example (a request body), None when it was logged without one."""
    if Path(model_uri).is_dir():
        local = Path(model_uri)
    else:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(workdir)))
    example = local / SERVING_EXAMPLE
    return mlflow.pyfunc.load_model(str(local)), example.read_text(encoding="utf-8") if example.is_file() else None


def curl_example(url: str, body: str) -> str:
    """A ready-to-paste request for `url` with JSON `body` on one line (NaN, which JSON lacks, as null)."""
    compact = json.dumps(json.loads(body, parse_constant=lambda constant: None), separators=(",", ":"))
    return f"curl -s -X POST {url}{INVOCATIONS} -H 'Content-Type: application/json' -d '{compact}'"


def run(app: Any, host: str, port: int) -> None:
    """Serve `app` until interrupted (uvicorn, one process)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
