"""This process's place among the training workers, from TF_CONFIG.

Below both the worker entry point (components.train.workers), which starts `train_model`, and the
training itself (components.train.task, components.train.input), which shards by the role.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class WorkerRole:
    """This process's place among the workers; index 0 is the chief, which alone exports."""

    index: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        return self.index == 0


ONE_WORKER = WorkerRole()


def worker_role(environ: Mapping[str, str] | None = None) -> WorkerRole:
    """The role TF_CONFIG gives; one worker without it. Only chief and worker tasks are understood:
    MultiWorkerMirroredStrategy has no parameter servers, and an evaluator would not train."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw:
        return ONE_WORKER
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        kind, index = str(task["type"]).lower(), int(task["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"TF_CONFIG is not {{'cluster': ..., 'task': {{'type', 'index'}}}}: {raw!r}") from error
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown or kind not in ("chief", "worker"):
        raise ValueError(
            f"TF_CONFIG has task types {sorted(set(cluster) | {kind})}; this trainer runs "
            "MultiWorkerMirroredStrategy, which takes 'chief' and 'worker' tasks only"
        )
    chiefs = len(cluster.get("chief", []))
    count = chiefs + len(cluster.get("worker", []))
    position = index if kind == "chief" else chiefs + index
    if not 0 <= position < count:
        raise ValueError(f"TF_CONFIG task {kind}:{index} is not in its cluster {cluster}")
    return WorkerRole(position, count)
