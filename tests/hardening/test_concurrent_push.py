"""Two pipeline runs pushing at once, each in its own process, against one registry and one store: a SQLite
file and a local store, or an MLflow server over PostgreSQL and S3 (moto; a server takes no local source).

The rule (components/push/task.py): the alias moves by compare-and-set under the
model's champion lock (components/push/lock.py), so the first push to take the lock becomes champion
and the second, evaluated against a champion that is no longer current, stays
registered but unpromoted. Never an unblessed model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hardening_helpers import (
    MODEL_NAME,
    assert_registry_sound,
    champion_version,
    live_versions,
    new_pipeline_run,
    plant_dead_claim,
)

from components.common import tracking
from components.push.lock import HOLDER_RUN_TAG, RELEASED_TAG, ChampionLock, LockLostError, lock_claims
from components.push.task import NotBlessedError, push_model

pytestmark = [pytest.mark.hardening, pytest.mark.slow]

# Each child imports everything first, says it is ready, and pushes only when told to go: the two
# pushes then overlap (both upload at once and contend for the lock) instead of one ending before
# the other has imported TensorFlow.
CHILD = """
import json, sys, time
from pathlib import Path
from components.push.task import push_model
model, store, model_name, tracking_uri, run_id, ready, go, endpoint = sys.argv[1:]
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.01)
result = push_model(Path(model), store, model_name, tracking_uri, run_id, endpoint or None)
print(json.dumps({"version": result.model_version, "champion": result.champion, "store_uri": result.store_uri}))
"""


def test_two_pushes_at_once_register_both_and_promote_exactly_one(
    saved_model: Path, registry_uri: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store, endpoint = str(tmp_path / "store"), ""
    if registry_uri.startswith("http"):
        store, endpoint = f"s3://{request.getfixturevalue('bucket')}/models", request.getfixturevalue("s3_endpoint")
    run = new_pipeline_run(registry_uri, "none")
    first = push_model(saved_model, store, MODEL_NAME, registry_uri, run, endpoint or None)
    runs = [new_pipeline_run(registry_uri, champion_seen_by_gate=first.model_version) for _ in range(2)]
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(saved_model), store, MODEL_NAME, registry_uri, run]
            + [str(tmp_path / run), str(go), endpoint],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]
    deadline = time.monotonic() + 300
    while not all((tmp_path / run).exists() for run in runs):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), "a child did not start"
        time.sleep(0.1)
    go.touch()
    outputs = [child.communicate(timeout=300) for child in children]
    assert [c.returncode for c in children] == [0, 0], [err[-3000:] for _, err in outputs]
    results = {run: json.loads(out.strip().splitlines()[-1]) for run, (out, _) in zip(runs, outputs)}

    versions = live_versions(registry_uri)
    assert versions.keys() == {first.model_version, *(r["version"] for r in results.values())}
    winners = [run for run, result in results.items() if result["champion"]]
    assert len(winners) == 1, results
    (winner,) = winners
    (loser,) = set(runs) - {winner}
    assert champion_version(registry_uri) == results[winner]["version"]
    client = tracking.client(registry_uri)
    for run, result in results.items():
        version = client.get_model_version(MODEL_NAME, result["version"])
        assert version.run_id == run
        assert version.source == version.tags["store_uri"] == result["store_uri"]
        assert version.tags["evaluated_against"] == first.model_version
    winner_tags, loser_tags = versions[results[winner]["version"]], versions[results[loser]["version"]]
    assert winner_tags["champion_decision"].startswith(f"champion (was {first.model_version},")
    assert loser_tags["champion_decision"].startswith(
        f"not promoted: the gate compared it with champion {first.model_version}, "
        f"but the champion is now {results[winner]['version']}"
    )
    assert_registry_sound(registry_uri, tmp_path / "check", endpoint or None)


def test_an_unblessed_run_is_never_pushed(saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    first = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, new_pipeline_run(tmp_mlflow_uri, "none"))
    run = new_pipeline_run(tmp_mlflow_uri, champion_seen_by_gate=first.model_version)
    tracking.client(tmp_mlflow_uri).log_metric(run, "blessed", 0.0)

    with pytest.raises(NotBlessedError, match=f"pipeline run {run} was not blessed"):
        push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, run)

    assert live_versions(tmp_mlflow_uri).keys() == {first.model_version}
    assert champion_version(tmp_mlflow_uri) == first.model_version
    assert len([path for path in (tmp_path / "store" / MODEL_NAME).iterdir() if path.name != "serving"]) == 1


def test_the_champion_lock_excludes_other_runs_and_yields_to_dead_ones(registry_uri: str) -> None:
    client = tracking.client(registry_uri)
    with ChampionLock(registry_uri, MODEL_NAME, "run-a") as first:
        with pytest.raises(TimeoutError, match=r"champion lock of taxi-classifier .* held by pipeline run run-a"):
            ChampionLock(registry_uri, MODEL_NAME, "run-b", wait_s=1.0).acquire()
        # A later attempt of the same pipeline run: the holder is dead (KFP runs one attempt at a time).
        with ChampionLock(registry_uri, MODEL_NAME, "run-a") as retry:
            assert retry.epoch == first.epoch + 1
            with pytest.raises(LockLostError, match="taken over"):
                first.check()
    # A killed push's epoch, never released: taken over once its lease has run out on the registry's clock.
    planted_at = time.monotonic()
    killed, planted = plant_dead_claim(registry_uri, MODEL_NAME, "killed-run")
    assert killed == retry.epoch + 1
    with ChampionLock(registry_uri, MODEL_NAME, "run-b", lease_s=1.0) as taker:
        assert time.monotonic() - planted_at >= 1.0 - 0.01  # registry timestamps are whole milliseconds
        assert taker.epoch == retry.epoch + 2
    claims = lock_claims(client, MODEL_NAME)
    assert sorted(claims) == [killed, taker.epoch]  # each holder deletes only claims below the one before its own
    assert claims[killed].tags == planted  # nobody wrote the killed push's claim
    assert claims[taker.epoch].tags[HOLDER_RUN_TAG] == "run-b"
    assert claims[taker.epoch].tags[RELEASED_TAG] == "true"
