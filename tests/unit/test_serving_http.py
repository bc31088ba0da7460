"""`python -m components.serve serve` (what `make serve` runs) as a real server on a free loopback port:
its answers, its 400s, its printed curl and its request log, which the drift check reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest
from test_serving_support import DATASET, MODEL_NAME, SPEC, Champion, saved_model_outputs

from components.common import tracking
from components.monitor.drift import DriftThresholds, compare
from components.monitor.task import champion_baseline, read_new_data

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    request_log: Path
    process: subprocess.Popen
    output: Path

    def post(self, body: object) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.url}/invocations", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(champion: Champion, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("server")
    port, log, output = _free_port(), root / "requests.jsonl", root / "server.out"
    env = {**os.environ, "MLFLOW_TRACKING_URI": champion.tracking_uri, "MODEL_NAME": MODEL_NAME, "DATASET": DATASET}
    command = [sys.executable, "-m", "components.serve", "serve", "--version", "1", "--port", str(port)]
    with output.open("w") as sink:
        process = subprocess.Popen(
            [*command, "--request-log", str(log)], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the server did not start:\n{output.read_text()[-3000:]}") from None
            time.sleep(0.5)
    try:
        yield Server(url, log, process, output)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))  # NaN as null, as a JSON client sends it


def test_the_server_answers_raw_rows_as_the_saved_model_does(server: Server, champion: Champion) -> None:
    rows = champion.eval_rows.head(16).copy()
    status, body = server.post({"dataframe_records": _records(rows)})
    assert status == 200
    answered = [prediction["probability"] for prediction in body["predictions"]]
    np.testing.assert_allclose(answered, saved_model_outputs(champion.export_dir, rows)["probability"], rtol=1e-6)
    # A whole number is accepted however JSON writes it: hour is an int column (long), distance a float (double).
    for hour, distance in ((14, 3), (14.0, 3.0)):
        assert server.post({"dataframe_records": [{**_records(rows)[2], "hour": hour, "distance": distance}]})[0] == 200


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("distance", None, "column 'distance': expected a value (max_null_fraction is 0), missing in row(s) 1"),
        ("distance", "nan", "column 'distance': expected a value (max_null_fraction is 0), missing in row(s) 1"),
        ("dow", None, "column 'dow': expected a value (max_null_fraction is 0), missing in row(s) 1"),
        ("company", "NA", "column 'company': expected a value (max_null_fraction is 0), missing in row(s) 1"),
        ("hour", None, "column hour"),  # MLflow's cast to the long column refuses a null, naming it
        ("distance", "Infinity", "column 'distance': expected a finite number, got inf"),
    ],
)
def test_a_value_training_refuses_is_a_400_naming_the_column(
    server: Server, champion: Champion, column: str, value: object, says: str
) -> None:
    """Every taxi column is never missing: a null (or a missing spelling) in one is refused, not filled."""
    rows = _records(champion.eval_rows.head(3))
    rows[1][column] = value
    status, body = server.post({"dataframe_records": rows})
    assert status == 400 and says in body["message"], body["message"][:500]


def test_a_missing_column_is_a_400_naming_it_and_the_server_stays_up(server: Server, champion: Champion) -> None:
    rows = _records(champion.eval_rows.head(2).drop(columns=["company"]))
    status, body = server.post({"dataframe_records": rows})
    assert status == 400 and "missing inputs ['company']" in body["message"]
    assert server.post({"dataframe_records": _records(champion.eval_rows.head(1))})[0] == 200


def test_text_in_a_numeric_column_is_a_400_naming_it(server: Server, champion: Champion) -> None:
    rows = _records(champion.eval_rows.head(2))
    rows[1]["distance"] = "far"
    status, body = server.post({"dataframe_records": rows})
    assert status == 400 and "column distance" in body["message"]
    rows[1]["distance"], rows[0]["company"] = 3.5, 42
    status, body = server.post({"dataframe_records": rows})
    assert status == 400 and "column 'company' holds 42 (int); expected text" in body["message"]
    with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as reply:
        assert reply.status == 200


def test_the_printed_curl_returns_predictions(server: Server) -> None:
    printed = server.output.read_text()
    assert f"serving {MODEL_NAME} version 1 on {server.url}" in printed
    (curl,) = [line for line in printed.splitlines() if line.startswith("curl ")]
    reply = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60, check=True)
    predictions = json.loads(reply.stdout)["predictions"]
    # The example's three rows of training values (no row of missing values: every taxi column is never missing).
    assert len(predictions) == 3 and all(0 <= row["probability"] <= 1 for row in predictions)


def test_the_request_log_is_what_the_drift_check_reads(server: Server, champion: Champion, tmp_path: Path) -> None:
    before = len(server.request_log.read_text().splitlines()) if server.request_log.exists() else 0
    sample = champion.eval_rows.head(40)
    assert server.post({"dataframe_split": json.loads(sample.to_json(orient="split", index=False))})[0] == 200
    lines = server.request_log.read_text().splitlines()[before:]
    assert len(lines) == 40
    assert set(json.loads(lines[0])) == {*SPEC.feature_columns, "request_id"}
    logged = tmp_path / "requests.jsonl"
    logged.write_text("\n".join(lines) + "\n")
    tracking.client(champion.tracking_uri)
    baseline = champion_baseline(champion.tracking_uri, MODEL_NAME, tmp_path)
    report = compare(baseline, read_new_data(logged, baseline, str(logged)), str(logged), DriftThresholds())
    assert report.rows == 40
    assert {feature.name for feature in report.features} == set(SPEC.feature_columns)
    assert report.breaking_schema_changes == []
    assert ("request_id", "added") in [(change.column, change.change) for change in report.schema_changes]
