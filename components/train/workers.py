"""Train as several TensorFlow workers: the worker entry point, and workers as local processes (each
worker's role from TF_CONFIG is in components.train.roles).

Whoever starts the workers (the training operator's TFJob on a cluster, `run_local_workers` on one
machine) gives each the same arguments and its own TF_CONFIG; `train_model` then trains with
MultiWorkerMirroredStrategy over them. Inputs and the export may be paths or s3:// URIs: TensorFlow
2.21 has no s3:// file system, so the worker copies s3:// inputs to its disk first, and the chief
uploads its export (with `result.json`, what `TrainResult` reports) when it is done.

    python -m components.train.workers --dataset taxi --transform-graph s3://... --examples s3://... \
        --export s3://... --hyperparameters '{"epochs": 20}' [--backup-dir /ckpt]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec
from components.train.roles import worker_role

RESULT_FILE = "result.json"
# A worker that has not finished after this long is stuck (a peer gone, a port taken): stop them all.
DEFAULT_TIMEOUT_S = 3600.0


class WorkerError(RuntimeError):
    """A worker failed, or the workers did not finish in time; the message has the failed worker's log tail."""


def tf_config(addresses: Sequence[str], index: int) -> str:
    """TF_CONFIG for worker `index` of a cluster of workers at `addresses` (host:port)."""
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that were free a moment ago (held open together, so they differ)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for held in sockets:
            held.bind(("127.0.0.1", 0))
        return [held.getsockname()[1] for held in sockets]
    finally:
        for held in sockets:
            held.close()


def run_local_workers(
    count: int, worker_args: Sequence[str], log_dir: Path, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Path]:
    """Start `count` worker processes on 127.0.0.1 (gRPC between them) and wait for all; returns their logs.

    The first failure, or the timeout, stops every worker still running (a survivor would wait for its
    peer forever) and raises WorkerError with the failed worker's log tail.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    logs = [log_dir / f"worker-{index}.log" for index in range(count)]
    processes: list[subprocess.Popen] = []
    try:
        for index, log in enumerate(logs):
            env = {**os.environ, "TF_CONFIG": tf_config(addresses, index)}
            with log.open("wb") as output:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "components.train.workers", *worker_args],
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + timeout_s
        while any(process.poll() is None for process in processes):
            failed = [index for index, process in enumerate(processes) if process.returncode not in (None, 0)]
            if failed:
                raise WorkerError(_failure(failed[0], processes[failed[0]].returncode, logs[failed[0]]))
            if time.monotonic() > deadline:
                raise WorkerError(f"{count} workers did not finish within {timeout_s:.0f} s; logs in {log_dir}")
            time.sleep(0.2)
        failed = [index for index, process in enumerate(processes) if process.returncode != 0]
        if failed:
            raise WorkerError(_failure(failed[0], processes[failed[0]].returncode, logs[failed[0]]))
        return logs
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _failure(index: int, returncode: int | None, log: Path) -> str:
    tail = log.read_text(errors="replace").splitlines()[-30:]
    return f"worker {index} exited with {returncode}; last lines of {log}:\n" + "\n".join(tail)


def worker_args(
    dataset: str,
    graph: str,
    examples: str,
    export: str,
    hyperparameters: Mapping[str, Any],
    model_builder: str,
    s3_endpoint_url: str,
) -> list[str]:
    """The arguments every worker gets (components.train.workers)."""
    args = ["--dataset", dataset, "--transform-graph", graph, "--examples", examples, "--export", export]
    args += ["--hyperparameters", json.dumps(dict(hyperparameters), sort_keys=True)]
    if model_builder:
        args += ["--model-builder", model_builder]
    if s3_endpoint_url:
        args += ["--s3-endpoint-url", s3_endpoint_url]
    return args


def take_result(export_dir: Path) -> dict[str, Any]:
    """The chief's `result.json` (TrainResult's fields), removed from the export so the model is only the model."""
    path = export_dir / RESULT_FILE
    if not path.exists():
        raise WorkerError(f"{export_dir}: the chief left no {RESULT_FILE}; its export is incomplete")
    result = json.loads(path.read_text())
    path.unlink()
    return result


def resolve_spec(reference: str) -> DatasetSpec:
    """A bundled spec by name, or `package.module:ATTRIBUTE` for a spec kept elsewhere."""
    if ":" not in reference:
        return get_spec(reference)
    module, _, attribute = reference.partition(":")
    spec = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(spec, DatasetSpec):
        raise ValueError(f"--dataset {reference!r}: {module}.{attribute} is not a DatasetSpec")
    return spec


def _local(uri: str, scratch: Path, name: str, endpoint_url: str | None) -> Path:
    """A path as it is; an s3:// prefix copied to `scratch/name` first."""
    if "://" not in uri or uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    from components.common.storage import download_dir

    return download_dir(uri, scratch / name, endpoint_url)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.train.workers", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="a bundled spec's name, or package.module:SPEC")
    parser.add_argument("--transform-graph", required=True, help="the transform step's graph: path or s3://")
    parser.add_argument("--examples", required=True, help="the transform step's examples: path or s3://")
    parser.add_argument("--export", required=True, help="where the chief writes the SavedModel: path or s3://")
    parser.add_argument("--hyperparameters", default="{}", help="JSON object of Hyperparameters fields")
    parser.add_argument("--model-builder", default="")
    parser.add_argument("--backup-dir", default="", help="per-epoch checkpoints, kept across a worker's restarts")
    parser.add_argument("--s3-endpoint-url", default="")
    args = parser.parse_args(argv)

    # TensorFlow comes after the arguments are read: a bad flag fails in milliseconds, not after its import.
    from components.train.hyperparameters import TUNED, Hyperparameters, with_values
    from components.train.task import train_model

    values = json.loads(args.hyperparameters)
    tuned = {key: values.pop(key) for key in TUNED if key in values}
    # A Katib trial gets its hidden units as text ("64-32"); the rest as JSON numbers.
    hyperparameters = with_values(Hyperparameters(**values), tuned)
    spec, role = resolve_spec(args.dataset), worker_role()
    endpoint = args.s3_endpoint_url or None
    print(f"worker {role.index} of {role.count}{' (chief)' if role.is_chief else ''}: {spec.name}", flush=True)
    with tempfile.TemporaryDirectory(prefix="worker-") as scratch_dir:
        scratch = Path(scratch_dir)
        graph = _local(args.transform_graph, scratch, "transform_graph", endpoint)
        examples = _local(args.examples, scratch, "examples", endpoint)
        remote_export = "://" in args.export and not args.export.startswith("file://")
        export = scratch / "model" if remote_export else Path(args.export.removeprefix("file://"))
        result = train_model(
            spec,
            graph,
            examples,
            export,
            hyperparameters,
            args.model_builder,
            backup_dir=Path(args.backup_dir) if args.backup_dir else None,
        )
        print("history " + json.dumps(result.history), flush=True)
        if role.is_chief:
            (export / RESULT_FILE).write_text(json.dumps(asdict(result), indent=2))
            if remote_export:
                from components.common.storage import upload_dir

                upload_dir(export, args.export, endpoint)
            print(f"chief exported to {args.export}", flush=True)
        else:
            print("not the chief: its export was discarded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
