"""GPU jobs a step launches on the cluster (a TFJob, a Katib Experiment) go when the step goes.

Two ways, because neither covers every end of the step:
- on SIGTERM (what Kubernetes sends a pod that KFP stops) the step deletes its job itself, through the
  same path as an interrupt or a timeout (`stopped_by_sigterm`);
- the job names the launcher pod as its owner (`launcher_owner_references`), so Kubernetes' garbage
  collector deletes it when the pod object is deleted, also after a SIGKILL or a lost node.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

from components.common.cluster import LAUNCHER_POD_NAME_ENV, LAUNCHER_POD_UID_ENV

_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Terminated(SystemExit):
    """SIGTERM arrived: the step is being stopped. Exits with 143 (128 + SIGTERM) once the job is deleted."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


@contextmanager
def stopped_by_sigterm(say: Callable[[str], None] = print) -> Iterator[None]:
    """Inside, SIGTERM raises `Terminated`; the previous handler is back on the way out.

    Python lets only the main thread set signal handlers: elsewhere (a thread of a test or a notebook)
    SIGTERM keeps its handler, and the log says so.
    """
    if threading.current_thread() is not threading.main_thread():
        say("not the main thread: SIGTERM keeps its handler (the job is not deleted on SIGTERM)")
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        say("SIGTERM: the step is being stopped")
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def launcher_owner_references(
    environ: Mapping[str, str] = os.environ, say: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """The ownerReferences that make a job the launcher pod's dependent; none outside a pipeline pod.

    blockOwnerDeletion is false: the pod's deletion must not wait for the workers to stop, and setting
    it true would need the right to delete pods (OwnerReferencesPermissionEnforcement), which the
    pipeline's ServiceAccount does not have. Not a controller reference: the operator manages the job.
    """
    name, uid = environ.get(LAUNCHER_POD_NAME_ENV, ""), environ.get(LAUNCHER_POD_UID_ENV, "")
    if not name and not uid:
        say(f"{LAUNCHER_POD_NAME_ENV} and {LAUNCHER_POD_UID_ENV} unset (not a pipeline pod): the job gets no owner")
        return []
    if not name or not _UID.fullmatch(uid):
        raise ValueError(
            f"launcher pod {LAUNCHER_POD_NAME_ENV}={name!r} {LAUNCHER_POD_UID_ENV}={uid!r}: "
            "expected a pod name and a lower-case UUID, or neither"
        )
    return [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid, "blockOwnerDeletion": False}]
