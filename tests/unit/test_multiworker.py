"""Training as two real TensorFlow workers on 127.0.0.1 (TF_CONFIG, gRPC, CPU) against one worker on the
same data: both finish, only the chief exports, and the two models answer raw rows alike.

The workers are `python -m components.train.workers` processes, as the training operator starts them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from shop_spec import SPEC, SPEC_REFERENCE, rows, write_csv
from sklearn.metrics import roc_auc_score

from components.train.distributed import WorkerPool, train_on_workers
from components.train.hyperparameters import Hyperparameters
from components.train.roles import WorkerRole, worker_role
from components.train.task import Split, train_model
from components.train.workers import RESULT_FILE, WorkerError, run_local_workers, tf_config
from components.transform.layout import TRAIN, TRANSFORMED_FILE_SUFFIX, VALIDATION
from components.transform.task import run_transform

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HYPERPARAMETERS = Hyperparameters(
    epochs=2, batch_size=32, learning_rate=0.003, hidden_units=(16,), early_stopping_patience=5
)
WORKER_TIMEOUT_S = 180


def _auc(export: Path, rows: list[list[str]]) -> float:
    model = tf.saved_model.load(str(export))
    answers = model.signatures["predict_csv"](csv_rows=tf.constant([",".join(row) for row in rows]))
    return roc_auc_score([int(row[2] == "yes") for row in rows], answers["probability"].numpy())


def _worker_args(root: Path, export: Path, **extra: str) -> list[str]:
    args = [
        "--dataset",
        SPEC_REFERENCE,
        "--transform-graph",
        str(root / "graph"),
        "--examples",
        str(root / "examples"),
        "--export",
        str(export),
        "--hyperparameters",
        json.dumps({**HYPERPARAMETERS.__dict__, **json.loads(extra.pop("hyperparameters", "{}"))}),
    ]
    for flag, value in extra.items():
        args += [f"--{flag.replace('_', '-')}", value]
    return args


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("multiworker")
    data = write_csv(root / "shop.csv", 1200, seed=1)
    run_transform(str(data), SPEC, root / "graph", root / "examples", root / "eval.csv")
    # The same examples as three files a split (the DirectRunner wrote one): two workers shard them by file,
    # unevenly (two files and one), as they would a large dataset's.
    for split in (TRAIN, VALIDATION):
        (source,) = (root / "examples").glob(f"{split}-*")
        records = list(tf.data.TFRecordDataset(str(source), compression_type="GZIP").as_numpy_iterator())
        (root / "three").mkdir(exist_ok=True)
        for index in range(3):
            name = f"{split}-0000{index}-of-00003{TRANSFORMED_FILE_SUFFIX}"
            with tf.io.TFRecordWriter(str(root / "three" / name), "GZIP") as out:
                for record in records[index::3]:
                    out.write(record)
    return root


@pytest.fixture(autouse=True)
def workers_import_this_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker processes find SPEC beside this file (`--dataset shop_spec:SPEC`) and the project at the root."""
    paths = [str(Path(__file__).parent), str(REPO), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("TF_CONFIG", raising=False)


def test_two_workers_train_like_one(transformed: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    one = train_model(SPEC, transformed / "graph", transformed / "three", tmp_path / "one", HYPERPARAMETERS)
    one_seconds = time.perf_counter() - started

    started = time.perf_counter()
    # What the train step calls with train_workers=2 outside a cluster (kfp.local): local worker processes.
    two = train_on_workers(
        WorkerPool(2, "unused-locally", 0, "pool", "cpu"),
        SPEC_REFERENCE,
        ((transformed / "graph", "unused"), (transformed / "three", "unused")),
        (tmp_path / "two", "unused"),
        asdict(HYPERPARAMETERS),
    )
    two_seconds = time.perf_counter() - started
    chief_log, other_log = (tmp_path / "two-worker-logs" / f"worker-{index}.log" for index in range(2))
    chief_log, other_log = chief_log.read_text(), other_log.read_text()

    assert "worker 0 of 2 (chief)" in chief_log and "chief exported to" in chief_log
    assert "worker 1 of 2:" in other_log and "its export was discarded" in other_log
    # Only the chief's SavedModel is left; the other worker's scratch copy is gone.
    assert sorted(tmp_path.rglob("saved_model.pb")) == [
        tmp_path / "one" / "saved_model.pb",
        tmp_path / "two" / "saved_model.pb",
    ]
    assert not (tmp_path / "two" / RESULT_FILE).exists()  # taken out of the export, which is only the model
    # The workers checkpointed (their backup folders were made under it), and finished runs leave none behind.
    assert (tmp_path / "two-backup").is_dir() and not list((tmp_path / "two-backup").iterdir())
    assert two["device"] == "2 workers x CPU" and two["replicas"] == 2
    assert two["epochs_run"] == one.epochs_run == HYPERPARAMETERS.epochs
    # The validation metric is reduced over both workers' shards: both see the same curve.
    chief_history, other_history = _history(chief_log), _history(other_log)
    assert sorted(chief_history) == sorted(other_history) == sorted(one.history)
    for name, values in chief_history.items():
        assert values == pytest.approx(other_history[name], rel=1e-5), name

    fresh = rows(400, seed=2)
    one_auc, two_auc = _auc(tmp_path / "one", fresh), _auc(tmp_path / "two", fresh)
    print(
        f"\none worker: {one_seconds:.1f} s in all, {one.train_seconds:.1f} s training, AUC {one_auc:.4f}"
        f"\ntwo workers: {two_seconds:.1f} s in all (two processes start), {two['train_seconds']:.1f} s training, "
        f"AUC {two_auc:.4f}\none worker's curve {one.history}\ntwo workers' curve {chief_history}"
    )
    assert one_auc > 0.85 and two_auc > 0.85
    assert abs(two_auc - one_auc) < 0.05
    assert abs(two["best_val_metric"] - one.best_val_metric) < 0.05


def _history(log: str) -> dict[str, list[float]]:
    lines = [line for line in log.splitlines() if line.startswith("history ")]
    assert len(lines) == 1, log[-2000:]
    return json.loads(lines[0].removeprefix("history "))


def test_a_killed_worker_resumes_from_its_last_epoch(transformed: Path, tmp_path: Path) -> None:
    """SIGKILL after a few epochs, start it again with the same backup dir: it goes on where it stopped."""
    backup = tmp_path / "backup"
    args = _worker_args(
        transformed,
        tmp_path / "model",
        hyperparameters='{"epochs": 40, "early_stopping_patience": 40}',
        backup_dir=str(backup),
    )
    command = [sys.executable, "-m", "components.train.workers", *args]
    metadata = backup / "worker-0" / "training_metadata.json"
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + WORKER_TIMEOUT_S
            while not _epoch_done(metadata, 2) and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-2000:]
    done = json.loads(metadata.read_text())["epoch"]  # epochs completed

    second = subprocess.run(command, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    resumed = json.loads((tmp_path / "model" / RESULT_FILE).read_text())
    assert 2 <= done < 40 and resumed["epochs_run"] == 40 - done
    assert not backup.joinpath("worker-0").exists()  # a finished run removes its backup


def _epoch_done(metadata: Path, epochs: int) -> bool:
    try:
        return json.loads(metadata.read_text())["epoch"] >= epochs
    except (OSError, ValueError, KeyError):
        return False


def test_a_failing_worker_stops_the_others(transformed: Path, tmp_path: Path) -> None:
    """A worker that fails (here: a builder that does not exist) ends the run at once, its log quoted."""
    args = _worker_args(transformed, tmp_path / "model", model_builder="no_such_builder")
    started = time.perf_counter()
    with pytest.raises(WorkerError, match=r"(?s)worker \d exited with 1; last lines .*no_such_builder"):
        run_local_workers(2, args, tmp_path / "logs", WORKER_TIMEOUT_S)
    assert time.perf_counter() - started < WORKER_TIMEOUT_S / 2
    assert not (tmp_path / "model").exists()


def test_roles_come_from_tf_config() -> None:
    addresses = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    roles = [worker_role({"TF_CONFIG": tf_config(addresses, index)}) for index in range(3)]
    assert [(role.index, role.count, role.is_chief) for role in roles] == [(0, 3, True), (1, 3, False), (2, 3, False)]
    with_chief = {"cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]}, "task": {"type": "worker", "index": 1}}
    assert worker_role({"TF_CONFIG": json.dumps(with_chief)}).index == 2
    assert worker_role({}).count == 1
    parameter_servers = {"cluster": {"worker": ["w:1"], "ps": ["p:1"]}, "task": {"type": "ps", "index": 0}}
    with pytest.raises(ValueError, match="'chief' and 'worker' tasks only"):
        worker_role({"TF_CONFIG": json.dumps(parameter_servers)})
    with pytest.raises(ValueError, match="is not in its cluster"):
        worker_role({"TF_CONFIG": tf_config(addresses, 3)})


def _rows_of(split: Split) -> Counter:
    """The split's rows as a multiset (two rows may be equal); a row is every value of every feature and its
    label, a vector feature (piecewise-linear) contributing all of its values."""
    rows = len(split.labels)
    names = sorted(split.features)
    columns = [np.asarray(split.features[name], dtype=float).reshape(rows, -1) for name in names]
    values = np.concatenate([*columns, np.asarray(split.labels, dtype=float).reshape(rows, -1)], axis=1)
    return Counter(tuple(row) for row in values.tolist())


def test_each_worker_reads_its_files_or_every_nth_example(transformed: Path) -> None:
    """Three files for two workers: by file (worker 0 reads files 0 and 2, worker 1 file 1). One file: by example."""
    feature_spec = tft.TFTransformOutput(str(transformed / "graph")).transformed_feature_spec()
    three = transformed / "three"
    files = sorted(three.glob(f"{TRAIN}-*"))
    sizes_of_files = [sum(1 for _ in tf.data.TFRecordDataset(str(path), compression_type="GZIP")) for path in files]
    everything = _rows_of(Split.read(three, TRAIN, feature_spec, SPEC.label.name))
    for examples in (three, transformed / "examples"):
        shards = [Split.read(examples, TRAIN, feature_spec, SPEC.label.name, WorkerRole(i, 2)) for i in range(2)]
        rows = [_rows_of(shard) for shard in shards]
        assert rows[0] + rows[1] == everything  # every row in exactly one shard
        sizes = [len(shard.labels) for shard in shards]
        if examples == three:  # by file: worker 0 has two files' rows, worker 1 one file's
            assert sizes == [sizes_of_files[0] + sizes_of_files[2], sizes_of_files[1]]
        else:  # by example: as even as can be
            assert abs(sizes[0] - sizes[1]) <= 1
