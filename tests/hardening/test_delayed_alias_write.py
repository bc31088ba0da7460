"""A push whose alias write is delayed past its lease never overwrites a champion set by another holder.

Push A reaches a real MLflow server through a proxy that stalls (tests/hardening/stall_proxy.py) from A's
alias write on: the write, A's lease renewals and all A sends later are held. Push B, straight to the
server, takes the lock over once A's lease ran out and promotes its own version. Then the proxy lets
everything through, A's alias write included. Against a SQLite-backed and a PostgreSQL-backed server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from hardening_helpers import assert_registry_sound, champion_version, live_versions, new_pipeline_run
from stall_proxy import StallProxy

from components.push import lock
from components.push.leftovers import LOCK_EPOCH_TAG, PROMOTED_EPOCH_TAG
from components.push.task import push_model

pytestmark = [pytest.mark.hardening, pytest.mark.slow]

LEASE_S = 8.0
ALIAS_WRITE = "/registered-models/alias"

PUSH_A = """
import json, sys
from pathlib import Path
from components.push import lock
from components.push.task import push_model
model, store, model_name, uri, run_id, endpoint, lease, out = sys.argv[1:]
lock.LEASE_S = float(lease)
try:
    push_model(Path(model), store, model_name, uri, run_id, endpoint)
    Path(out).write_text(json.dumps({"error": None}))
except Exception as error:
    Path(out).write_text(json.dumps({"error": f"{type(error).__name__}: {error}"}))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def server_port(request: pytest.FixtureRequest) -> int:
    if request.param == "sqlite":
        return request.getfixturevalue("mlflow_server").port
    server, postgres = request.getfixturevalue("postgres_mlflow_server")
    postgres.clear_registry("mlflow")
    return server.port


@pytest.fixture
def stall_proxy(server_port: int) -> Iterator[StallProxy]:
    proxy = StallProxy(server_port)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_an_alias_write_delayed_past_the_lease_never_overwrites_the_next_holders_champion(
    saved_model: Path,
    server_port: int,
    stall_proxy: StallProxy,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    uri, store, model = f"http://127.0.0.1:{server_port}", f"s3://{bucket}/models", f"delayed-{uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(lock, "LEASE_S", LEASE_S)
    first = push_model(saved_model, store, model, uri, new_pipeline_run(uri, "none"), s3_endpoint)
    run_a, run_b = (new_pipeline_run(uri, champion_seen_by_gate=first.model_version) for _ in range(2))
    stall_proxy.stall_on("POST", ALIAS_WRITE)
    outcome = tmp_path / "push-a.json"
    push_a = subprocess.Popen(
        [sys.executable, "-c", PUSH_A, str(saved_model), store, model, stall_proxy.url, run_a, s3_endpoint]
        + [str(LEASE_S), str(outcome)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stall_proxy.wait_until_stalled(300, push_a)
        pushed_b = push_model(saved_model, store, model, uri, run_b, s3_endpoint)
        alias_writes = [held for held in stall_proxy.held if held.method == "POST" and ALIAS_WRITE in held.path]
        stall_proxy.release()
        _, stderr = push_a.communicate(timeout=600)
    finally:
        push_a.kill()
    stall_proxy.wait_until_forwarded(120)

    assert pushed_b.champion, pushed_b.decision
    assert "took over epoch" in caplog.text  # B took A's lock over: A never released it
    # A gave up on its alias write, and sent no retry, before its lease could run out.
    assert alias_writes and all(held.abandoned is not None for held in alias_writes), alias_writes
    assert all(held.abandoned - held.arrived < LEASE_S for held in alias_writes), alias_writes
    # Then the write reached the server after all, and was refused: its version was swept by B.
    assert all(held.status == 404 and b"RESOURCE_DOES_NOT_EXIST" in held.answer for held in alias_writes)
    assert json.loads(outcome.read_text())["error"], stderr[-3000:]
    assert champion_version(uri, model) == pushed_b.model_version
    versions = live_versions(uri, model)
    assert versions.keys() == {first.model_version, pushed_b.model_version}
    assert versions[pushed_b.model_version][PROMOTED_EPOCH_TAG] == versions[pushed_b.model_version][LOCK_EPOCH_TAG]
    assert_registry_sound(uri, tmp_path / "check", s3_endpoint, model)
