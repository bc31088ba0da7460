"""The champion lock (components/push/lock.py) with a short lease, against a SQLite registry and against
an MLflow server over PostgreSQL (the `registry_uri` fixture).

Holders in their own processes record when they held the lock on CLOCK_MONOTONIC, which every
process on one machine shares, so hold intervals compare across processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hardening_helpers import MODEL_NAME, new_pipeline_run, plant_dead_claim

from components.common import storage, tracking
from components.push.leftovers import LOCK_EPOCH_TAG, PUSH_STATE_TAG, STAGED, sweep_orphans
from components.push.lock import (
    HOLDER_RUN_TAG,
    LOCKS_MODEL,
    RELEASED_TAG,
    ChampionLock,
    LockLostError,
    lock_claims,
    lock_epochs,
)

pytestmark = [pytest.mark.hardening, pytest.mark.slow]

LEASE_S = 2.0
# Over HTTP to a server on a loaded 2-core machine a call can take a second: a renewal must return within
# a quarter of the lease to count, so the server-backed runs hold a longer lease.
SERVER_LEASE_S = 6.0


@pytest.fixture
def lease_s(registry_uri: str) -> float:
    return SERVER_LEASE_S if registry_uri.startswith("http") else LEASE_S


# Opens the store (its first use is slow), waits for `go`, holds the lock `hold` seconds, checks it
# still holds it, and writes what it saw.
HOLDER = """
import json, sys, time
from pathlib import Path
from components.common import tracking
from components.push.lock import ChampionLock, LockLostError, lock_epochs
uri, model, run, lease, hold, go, out = sys.argv[1:]
tracking.client(uri).search_registered_models(max_results=1)
Path(out + ".ready").touch()
while not Path(go).exists():
    time.sleep(0.01)
with ChampionLock(uri, model, run, lease_s=float(lease), wait_s=120) as lock:
    start = time.monotonic()
    seen = {epoch: held.tags for epoch, held in lock_epochs(tracking.client(uri), model).items()}
    time.sleep(float(hold))
    try:
        lock.check()
        still_held = True
    except LockLostError as error:
        still_held = str(error)
    end = time.monotonic()
Path(out).write_text(json.dumps(
    {"run": run, "epoch": lock.epoch, "start": start, "end": end, "still_held": still_held, "seen": seen}
))
"""


def _start_holders(
    tmp_path: Path, tracking_uri: str, runs: list[str], hold_s: float, lease_s: float
) -> list[subprocess.Popen]:
    """Start one holder process per run; `go` sets them off."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, tracking_uri, MODEL_NAME, run, str(lease_s), str(hold_s)]
            + [str(tmp_path / "go"), str(tmp_path / run)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]


def _wait_for(path: Path, children: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        failed = [child.communicate()[1][-3000:] for child in children if child.poll() is not None]
        assert not failed and time.monotonic() < deadline, f"no {path.name}: {failed}"
        time.sleep(0.05)


def _holds(tmp_path: Path, runs: list[str], children: list[subprocess.Popen]) -> list[dict]:
    """What each holder wrote, in the order they held the lock."""
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0] * len(children), [e[-3000:] for e in errors]
    return sorted((json.loads((tmp_path / run).read_text()) for run in runs), key=lambda hold: hold["start"])


def test_three_processes_racing_for_a_stale_lock_take_it_one_at_a_time(
    registry_uri: str, tmp_path: Path, lease_s: float
) -> None:
    runs = ["racer-1", "racer-2", "racer-3"]
    children = _start_holders(tmp_path, registry_uri, runs, hold_s=0.5, lease_s=lease_s)
    for run in runs:
        _wait_for(tmp_path / f"{run}.ready", children)
    client = tracking.client(registry_uri)
    # A killed push's epoch: never released, never renewed again.
    planted_at = time.monotonic()
    dead, planted = plant_dead_claim(registry_uri, MODEL_NAME, "killed-run")
    (tmp_path / "go").touch()

    holds = _holds(tmp_path, runs, children)

    assert sorted(hold["run"] for hold in holds) == runs  # all three acquired
    epochs_held = [hold["epoch"] for hold in holds]
    assert dead < epochs_held[0] < epochs_held[1] < epochs_held[2]  # one epoch each, in the order they held it
    assert [hold["still_held"] for hold in holds] == [True, True, True]
    for before, after in zip(holds, holds[1:]):
        assert before["end"] <= after["start"], (before, after)  # never two holders at once
    assert holds[0]["start"] >= planted_at + lease_s - 0.01  # the stale lock was waited out, then taken over
    # The takeover neither deleted nor wrote the stale epoch: the first taker found it as planted.
    assert holds[0]["seen"][str(dead)] == planted
    assert holds[0]["seen"][str(epochs_held[0])][HOLDER_RUN_TAG] == holds[0]["run"]
    claims = lock_claims(client, MODEL_NAME)
    # Older claims deleted by the last holder: its own and the one before it, on which its validity rests.
    assert len(claims) == 2 and max(claims) == epochs_held[2], sorted(claims)
    assert claims[epochs_held[2]].tags[HOLDER_RUN_TAG] == holds[2]["run"]
    assert claims[epochs_held[2]].tags[RELEASED_TAG] == "true"
    # Every lock of the registry is in one registered model: the registry lists models, not locks.
    assert [model.name for model in client.search_registered_models()] == [LOCKS_MODEL]


def test_a_holder_that_keeps_renewing_keeps_the_lock_for_many_leases(
    registry_uri: str, tmp_path: Path, lease_s: float
) -> None:
    (tmp_path / "go").touch()
    with ChampionLock(registry_uri, MODEL_NAME, "long-holder", lease_s=lease_s) as holder:
        held_from = time.monotonic()
        children = _start_holders(tmp_path, registry_uri, ["contender"], hold_s=0.0, lease_s=lease_s)
        _wait_for(tmp_path / "contender.ready", children)  # from here on it tries to take the lock
        time.sleep(max(0.0, held_from + 5 * lease_s - time.monotonic()))
        holder.check()  # renewed all along
        held_until = time.monotonic()

    (contender,) = _holds(tmp_path, ["contender"], children)
    assert held_until - held_from >= 5 * lease_s
    assert contender["start"] >= held_until  # the contender waited for the release, however long the hold
    assert contender["epoch"] == holder.epoch + 1


def test_a_holder_that_stops_renewing_loses_the_lock_and_its_check_says_so(
    registry_uri: str, monkeypatch: pytest.MonkeyPatch, lease_s: float
) -> None:
    stalled = ChampionLock(registry_uri, MODEL_NAME, "stalled-run", lease_s=lease_s)
    # Its renewal thread never runs: as if the process were frozen (a long GC pause, a stalled node).
    monkeypatch.setattr(stalled, "_renew_until_stopped", lambda: None)
    stalled.acquire()
    acquired = time.monotonic()
    stalled.check()

    with ChampionLock(registry_uri, MODEL_NAME, "contender", lease_s=lease_s, wait_s=60) as contender:
        assert time.monotonic() - acquired >= lease_s - 0.01  # not before the lease ran out
        assert contender.epoch == stalled.epoch + 1
        with pytest.raises(LockLostError, match="taken over"):
            stalled.check()
        stalled.release()  # tags only its own epoch
        contender.check()
    epochs = lock_epochs(tracking.client(registry_uri), MODEL_NAME)
    assert epochs[contender.epoch].tags[HOLDER_RUN_TAG] == "contender"


def test_the_sweep_leaves_a_live_holders_staged_version(tmp_mlflow_uri: str, tmp_path: Path) -> None:
    client = tracking.client(tmp_mlflow_uri)
    client.create_registered_model(MODEL_NAME)
    files = tmp_path / "model"
    files.mkdir()
    (files / "saved_model.pb").write_bytes(b"a model")
    store = (tmp_path / "store").as_uri()
    source = f"{store}/{MODEL_NAME}/20250101T000000000000Z-liverun0"
    storage.upload_dir(files, source)
    with ChampionLock(tmp_mlflow_uri, MODEL_NAME, "earlier-holder", lease_s=LEASE_S) as earlier:
        pass
    with ChampionLock(tmp_mlflow_uri, MODEL_NAME, "live-holder", lease_s=LEASE_S) as live:
        staged = client.create_model_version(
            MODEL_NAME,
            source,
            run_id=new_pipeline_run(tmp_mlflow_uri),
            tags={PUSH_STATE_TAG: STAGED, LOCK_EPOCH_TAG: str(live.epoch)},
        )
        # The earlier holder, had it lost its lease without noticing and swept now, and the holder itself:
        for epoch in (earlier.epoch, live.epoch):
            assert sweep_orphans(client, MODEL_NAME, f"{store}/{MODEL_NAME}/x-other", "other", None, epoch) == []
        assert client.get_model_version(MODEL_NAME, staged.version).tags[PUSH_STATE_TAG] == STAGED
        storage.verify_dir(source, storage.dir_checksums(files))

    # Its holder let go without finishing: what it left is a dead push's, and the next holder sweeps it.
    with ChampionLock(tmp_mlflow_uri, MODEL_NAME, "next-holder", lease_s=LEASE_S) as later:
        removed = sweep_orphans(client, MODEL_NAME, f"{store}/{MODEL_NAME}/x-other", "other", None, later.epoch)
    assert removed == [f"model version {MODEL_NAME}/{staged.version} and {source}"]
    assert client.search_model_versions(f"name = '{MODEL_NAME}'") == []
    assert storage.list_prefixes(f"{store}/{MODEL_NAME}") == []
