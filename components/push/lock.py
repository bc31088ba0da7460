"""The champion lock: one push at a time per model, built from MLflow registry calls alone.

The lock is the series of registered models `<model>.champion-lock.<epoch>`; the highest epoch is
its state. Creating a registered model is the registry's one atomic primitive (names are unique),
so of all pushes that find epoch n free, exactly one creates n + 1 and holds the lock. Epoch n is
free when its holder tagged it released, when it was taken by an earlier attempt of the same
pipeline run (KFP runs one attempt at a time, so that attempt is dead), or when its lease ran out.
Nobody writes another holder's epoch, and the holder of n deletes only epochs below n - 1 (nobody's
authority rests on them), so a takeover can never undo a newer one.

The lease is measured on the registry's clock alone (behind several tracking servers: their synced clocks):
`update_registered_model` stamps `last_updated_timestamp` in the store's process. The holder
renews its epoch every lease_s / 4 from a thread; a contender stamps
`<model>.champion-lock.clock` for the registry's "now" and takes over once now - last renewal >
lease_s. The holder trusts its lease only until the local start of its last renewal + lease_s -
safety_s, and counts a renewal only if it returned within safety_s, so its trust always ends
before a contender may take over. Before each write that needs the lock, push calls `check()`.
The registry offers no fencing token: safety assumes a holder does not stall for more than
safety_s between a `check()` and its write.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from types import TracebackType

from mlflow.entities.model_registry import RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import tracking

logger = logging.getLogger(__name__)

LEASE_S = 60.0
# A live holder may keep the lock for as long as it renews: waiting for READY alone may take 300 s.
WAIT_S = 600.0
LOCK_INFIX = ".champion-lock."
CLOCK_NAME = "clock"
EPOCH_DIGITS = 10
HOLDER_RUN_TAG = "holder_run"
TOKEN_TAG = "holder_token"
RELEASED_TAG = "released"


class LockLostError(RuntimeError):
    """The lease ran out or another push took the lock over: stop, and undo what is not finished."""


def lock_name(model_name: str, epoch: int) -> str:
    return f"{model_name}{LOCK_INFIX}{epoch:0{EPOCH_DIGITS}d}"


def lock_epochs(client: MlflowClient, model_name: str) -> dict[int, RegisteredModel]:
    """{epoch: its registered model} of every lock object of `model_name` the registry holds."""
    prefix = f"{model_name}{LOCK_INFIX}"
    found: dict[int, RegisteredModel] = {}
    page_token = None
    while True:
        # LIKE's `_` matches any character: the exact prefix is checked here.
        page = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=100, page_token=page_token)
        for model in page:
            suffix = model.name[len(prefix) :]
            if model.name.startswith(prefix) and suffix.isdigit():
                found[int(suffix)] = model
        page_token = page.token
        if not page_token:
            return found


def registry_now_ms(client: MlflowClient, model_name: str) -> int:
    """The registry's clock, read by stamping the model's clock object (created on first use)."""
    name = f"{model_name}{LOCK_INFIX}{CLOCK_NAME}"
    try:
        return client.update_registered_model(name, description="the champion lock's clock").last_updated_timestamp
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        return client.create_registered_model(name, description="the champion lock's clock").last_updated_timestamp
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return client.update_registered_model(name, description="the champion lock's clock").last_updated_timestamp


class ChampionLock:
    """Hold `model_name`'s champion lock for pipeline run `holder_run`: `with ChampionLock(...) as lock:`."""

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        holder_run: str,
        lease_s: float = LEASE_S,
        wait_s: float = WAIT_S,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.holder_run = holder_run
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.safety_s = lease_s / 4
        self.epoch = -1  # none held yet
        self._client = tracking.client(tracking_uri)
        self._token = uuid.uuid4().hex  # tells this holder's epoch from an earlier attempt's of the same run
        self._trusted_until = 0.0  # time.monotonic()
        self._lost: str | None = None
        self._stop = threading.Event()

    def __enter__(self) -> ChampionLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    @property
    def name(self) -> str:
        return lock_name(self.model_name, self.epoch)

    @property
    def _description(self) -> str:
        return f"held by pipeline run {self.holder_run} while it pushes {self.model_name}"

    def acquire(self) -> None:
        """Create the next epoch once the current one is free; TimeoutError after wait_s."""
        deadline = time.monotonic() + self.wait_s
        while True:
            # The clock is read before the epochs: a renewal landing in between then only makes the lock look younger.
            now_ms = registry_now_ms(self._client, self.model_name)
            epochs = lock_epochs(self._client, self.model_name)
            current = max(epochs, default=-1)
            held = epochs.get(current)
            reason = "no lock yet" if held is None else self._why_free(held, now_ms)
            if reason is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the champion lock of {self.model_name} ({held.name}) is still held by pipeline run "
                        f"{_holder(held)} after {self.wait_s:.0f} s"
                    )
            elif self._create(current + 1):
                if held is not None and not held.tags.get(RELEASED_TAG):
                    logger.warning("took over %s from pipeline run %s: %s", held.name, _holder(held), reason)
                break
            time.sleep(random.uniform(0.1, 0.5))
        threading.Thread(target=self._renew_until_stopped, name=f"renew {self.name}", daemon=True).start()
        self._delete_epochs_below(epochs, self.epoch - 1)

    def check(self) -> None:
        """Raise LockLostError unless this holder still holds the lock; call just before each write that needs it."""
        if self.epoch < 0:
            raise LockLostError(f"the champion lock of {self.model_name} was never acquired")
        newer = [epoch for epoch in lock_epochs(self._client, self.model_name) if epoch > self.epoch]
        if newer:
            raise LockLostError(f"{self.name} was taken over: {lock_name(self.model_name, max(newer))} exists")
        if self._lost is not None:
            raise LockLostError(f"{self.name}: {self._lost}")
        if time.monotonic() >= self._trusted_until:
            raise LockLostError(f"{self.name}: its lease was not renewed in time ({self.lease_s:.0f} s lease)")

    def release(self) -> None:
        """Stop renewing and tag the own epoch released; a failure only leaves the lease to run out."""
        self._stop.set()
        if self.epoch < 0:
            return
        try:
            self._client.set_registered_model_tag(self.name, RELEASED_TAG, "true")
        except MlflowException as error:
            logger.warning("could not release %s (%s): it frees itself within %.0f s", self.name, error, self.lease_s)

    def _why_free(self, held: RegisteredModel, now_ms: int) -> str | None:
        if held.tags.get(RELEASED_TAG):
            return "released"
        if held.tags.get(HOLDER_RUN_TAG) == self.holder_run:
            return "held by an earlier attempt of this pipeline run"
        idle_s = (now_ms - held.last_updated_timestamp) / 1000
        if idle_s > self.lease_s:
            return f"not renewed for {idle_s:.1f} s (lease {self.lease_s:.0f} s)"
        return None

    def _create(self, epoch: int) -> bool:
        started = time.monotonic()
        name = lock_name(self.model_name, epoch)
        try:
            self._client.create_registered_model(
                name,
                tags={HOLDER_RUN_TAG: self.holder_run, TOKEN_TAG: self._token},
                description=self._description,
            )
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # A retried request may have created it: the token says whose it is.
            if self._client.get_registered_model(name).tags.get(TOKEN_TAG) != self._token:
                return False
        self.epoch = epoch
        self._trusted_until = started + self.lease_s - self.safety_s
        return True

    def _delete_epochs_below(self, epochs: dict[int, RegisteredModel], below: int) -> None:
        for epoch in sorted(e for e in epochs if e < below):
            try:
                self._client.delete_registered_model(lock_name(self.model_name, epoch))
            except MlflowException as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    logger.warning("could not delete the old %s: %s", lock_name(self.model_name, epoch), error)

    def _renew_until_stopped(self) -> None:
        client = tracking.client(self.tracking_uri)
        while not self._stop.wait(self.lease_s / 4):
            started = time.monotonic()
            if started >= self._trusted_until:
                self._lost = "its lease ran out before it could be renewed"
                return
            try:
                renewed = client.update_registered_model(self.name, description=self._description)
            except MlflowException as error:
                logger.warning("could not renew %s: %s", self.name, error)
                continue
            if renewed.tags.get(TOKEN_TAG) != self._token:
                self._lost = "it now belongs to another holder"
                return
            # A slow reply may have landed after a contender read the registry's clock: it does not count.
            if time.monotonic() - started < self.safety_s:
                self._trusted_until = started + self.lease_s - self.safety_s


def _holder(held: RegisteredModel) -> str:
    return held.tags.get(HOLDER_RUN_TAG, "?")
