"""Images end to end (issue 27): a digits champion trained under kfp.local on 300 PNGs, served by
`python -m components.serve serve` on 127.0.0.1, answers base64 PNGs over HTTP exactly as the pyfunc does
in process; bytes that are not an image get a 400.

300 of the 1,797 images and 3 epochs keep it short; the gate's bounds are lifted (the prior rule stays),
so the run ends in a champion whatever its accuracy. The held-out images are ones the run never read.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import mlflow
import numpy as np
import pandas as pd
import pytest
from e2e_support import Workspace

from pipelines.arguments import Overrides
from pipelines.images import write_digits
from pipelines.local_runner import run_locally
from pipelines.step_capture import StepCapture

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.acceptance]

ROWS, HELD_OUT = 300, 20
LIFTED = dict(epochs=3, thresholds={"accuracy": None, "log_loss": None}, baseline_margin=0.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url: str, images: list[bytes]) -> dict:
    records = [{"image": base64.b64encode(image).decode("ascii")} for image in images]
    body = json.dumps({"dataframe_records": records}).encode()
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, list[bytes]]:
    root = tmp_path_factory.mktemp("digits")
    index = write_digits(root / "input" / "all.csv")
    with index.open() as handle:
        rows = list(csv.reader(handle))
    data = root / "input" / "digits.csv"  # beside all.csv: the same relative paths
    with data.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows[: ROWS + 1])
    held_out = [(index.parent / path).read_bytes() for path, _ in rows[-HELD_OUT:]]
    workspace = Workspace(root, "digits", data)
    summary = run_locally(workspace.settings(), Overrides(**LIFTED), StepCapture(root / "logs", lambda *_: ("", [])))
    assert summary.blessed and summary.model_version, summary.gate_reasons
    return workspace, str(summary.model_version), held_out


def test_the_served_model_answers_base64_pngs_as_the_pyfunc_does(champion: tuple[Workspace, str, list[bytes]]) -> None:
    workspace, version, images = champion
    settings = workspace.settings()
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    in_process = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}").predict(
        pd.DataFrame({"image": images})
    )
    assert in_process["class"].tolist() and set(in_process["class"]) <= {str(digit) for digit in range(10)}
    port, output = _free_port(), workspace.root / "server.out"
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri, "MODEL_NAME": settings.model_name}
    command = [sys.executable, "-m", "components.serve", "serve", "--version", version, "--port", str(port)]
    with output.open("w") as sink:
        server = subprocess.Popen(command, env={**env, "DATASET": "digits"}, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{output.read_text()[-3000:]}") from None
                time.sleep(0.5)
        served = pd.DataFrame(_post(url, images)["predictions"])
        assert served["class"].tolist() == in_process["class"].tolist()
        np.testing.assert_allclose(np.stack(served["probabilities"]), np.stack(in_process["probabilities"]), atol=1e-6)
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(url, [b"not an image"])
        assert refused.value.code == 400
    finally:
        server.terminate()
        server.wait(timeout=30)
