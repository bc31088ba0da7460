"""The champion lock: one push (or rollback) at a time per model, built from MLflow registry calls alone.

Where it lives. Every lock of the registry is kept in ONE registered model, `zz-pipeline-locks`
(LOCKS_MODEL; "zz-" sorts it after the real models in the UI), so the registry lists models, not locks.
Each attempt to take model X's lock is a model version of it (a "claim") tagged `lock_of=X` and
`after=<the newest claim of X its maker saw>`. Alternatives weighed: tags of one registered model hold a
lease well but MLflow has no compare-and-set on tags (set is an upsert); S3 conditional writes
(If-None-Match) would need the model store's address in every holder, including the rollback verb.

The compare-and-set. A model version's number is max + 1 under a unique key, and its tags are written
in the same transaction (SQLite and PostgreSQL stores alike), so once claim k is visible every lower
claim that will ever exist is visible too. Claim k is valid when nothing of X was claimed between the
claim its maker saw and k: `after(k) == prev(k)`. Of all makers that saw the same newest claim,
exactly the first one's claim is valid; a stale maker's never is. The lock's epoch is the newest valid
claim. A claim is taken over only when free: tagged released, left by an earlier attempt of the same
pipeline run (KFP runs one attempt at a time) or past its lease. Losers' claims stay where they are
(deleting them would change `prev` of later claims); a holder deletes only claims below
`prev(its own)`, which no validity judged from then on depends on.

The lease is measured on the registry's clock alone: updating a model version or registered model
stamps `last_updated_timestamp` in the store's process. The holder renews its claim every lease_s / 4
from a thread; a contender stamps the locks model for the registry's "now" and takes over once
now - last renewal > lease_s. The holder trusts its lease until the local start of its last renewal +
lease_s - safety_s, counting a renewal only if it returned within safety_s, so its trust always ends
before a contender may take over.

Safety by construction: every registry call made through `lock.bounded(client)` while the lock is held
gets MLflow HTTP settings (timeout, retries, back-off; components/common/tracking.py) under which it
ends, retries included, before the trust ends, or is refused with LockLostError. A request held in the
network or the server past that may still land late; push fences it (components/push/alias_move.py).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from types import TracebackType
from typing import Any, Callable

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import tracking

logger = logging.getLogger(__name__)

LEASE_S = 60.0  # read when a lock is made: a test may shorten it for a whole process
# A live holder may keep the lock for as long as it renews: waiting for READY alone may take 300 s.
WAIT_S = 600.0
LOCKS_MODEL = "zz-pipeline-locks"
LOCK_OF_TAG = "lock_of"
AFTER_TAG = "after"
HOLDER_RUN_TAG = "holder_run"
TOKEN_TAG = "holder_token"
RELEASED_TAG = "released"
_DESCRIPTION = "The champion locks of every model of this registry (components/push/lock.py); not a model."


class LockLostError(RuntimeError):
    """The lease ran out or another push took the lock over: stop, and undo what is not finished."""


def lock_claims(client: MlflowClient, model_name: str) -> dict[int, ModelVersion]:
    """{claim number: claim} of every claim on `model_name`'s lock the registry holds."""
    quoted = model_name.replace("'", "\\'")
    found = client.search_model_versions(f"name = '{LOCKS_MODEL}' and tags.{LOCK_OF_TAG} = '{quoted}'")
    return {int(claim.version): claim for claim in found if claim.tags.get(LOCK_OF_TAG) == model_name}


def valid_epochs(claims: dict[int, ModelVersion]) -> list[int]:
    """The valid claims, oldest first; the lowest claim kept is judged only if nothing below was ever claimed."""
    numbers = sorted(claims)
    valid = [numbers[0]] if numbers and claims[numbers[0]].tags.get(AFTER_TAG) == "0" else []
    valid += [k for prev, k in zip(numbers, numbers[1:]) if claims[k].tags.get(AFTER_TAG) == str(prev)]
    return valid


def lock_epochs(client: MlflowClient, model_name: str) -> dict[int, ModelVersion]:
    """{epoch: its claim} of the valid claims on `model_name`'s lock; the newest is the lock's state."""
    claims = lock_claims(client, model_name)
    return {epoch: claims[epoch] for epoch in valid_epochs(claims)}


def claim_source(model_name: str) -> str:
    """A claim's version source: a tracking server takes only absolute, non-local paths, and nothing reads it."""
    return f"champion-lock:///{model_name}"


def mark_released(client: MlflowClient, epoch: int) -> None:
    client.set_model_version_tag(LOCKS_MODEL, str(epoch), RELEASED_TAG, "true")


def registry_now_ms(client: MlflowClient) -> int:
    """The registry's clock, read by stamping the locks model (created on first use)."""
    try:
        return client.update_registered_model(LOCKS_MODEL, description=_DESCRIPTION).last_updated_timestamp
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        return client.create_registered_model(LOCKS_MODEL, description=_DESCRIPTION).last_updated_timestamp
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return client.update_registered_model(LOCKS_MODEL, description=_DESCRIPTION).last_updated_timestamp


class ChampionLock:
    """Hold `model_name`'s champion lock for pipeline run `holder_run`: `with ChampionLock(...) as lock:`."""

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        holder_run: str,
        lease_s: float | None = None,
        wait_s: float = WAIT_S,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.holder_run = holder_run
        self.lease_s = LEASE_S if lease_s is None else lease_s
        self.wait_s = wait_s
        self.safety_s = self.lease_s / 4
        self.epoch = -1  # none held yet
        self._client = tracking.client(tracking_uri)
        self._token = uuid.uuid4().hex  # tells this holder's claims from an earlier attempt's of the same run
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
        return f"{self.model_name}'s champion lock (epoch {self.epoch})"

    def acquire(self) -> None:
        """Claim the lock once its current epoch is free; TimeoutError after wait_s."""
        deadline = time.monotonic() + self.wait_s
        while True:
            # The clock is read before the claims: a renewal landing in between only makes the lock look younger.
            now_ms = registry_now_ms(self._client)
            claims = lock_claims(self._client, self.model_name)
            current = max(valid_epochs(claims), default=None)
            held = None if current is None else claims[current]
            reason = "no lock yet" if held is None else self._why_free(held, now_ms)
            if reason is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the champion lock of {self.model_name} (epoch {current}) is still held by pipeline run "
                        f"{_holder(held)} after {self.wait_s:.0f} s"
                    )
            elif self._claim(after=max(claims, default=0)):
                if held is not None and not held.tags.get(RELEASED_TAG):
                    logger.warning("took over epoch %s from pipeline run %s: %s", current, _holder(held), reason)
                break
            time.sleep(random.uniform(0.1, 0.5))
        threading.Thread(target=self._renew_until_stopped, name=f"renew {self.name}", daemon=True).start()
        self._delete_claims_below(claims)

    def check(self) -> None:
        """Raise LockLostError unless this holder still holds the lock; call just before each write that needs it."""
        if self.epoch < 0:
            raise LockLostError(f"the champion lock of {self.model_name} was never acquired")
        newer = [epoch for epoch in lock_epochs(self._client, self.model_name) if epoch > self.epoch]
        if newer:
            raise LockLostError(f"{self.name} was taken over: epoch {max(newer)} is newer")
        if self._lost is not None:
            raise LockLostError(f"{self.name}: {self._lost}")
        if time.monotonic() >= self._trusted_until:
            raise LockLostError(f"{self.name}: its lease was not renewed in time ({self.lease_s:.0f} s lease)")

    def bounded(self, client: MlflowClient) -> MlflowClient:
        """`client` whose every call, while this lock is held, ends (retries included) before the lease
        may run out, or raises LockLostError; once released, calls go through as usual (a rollback's)."""
        return _Bounded(client, self._deadline)  # type: ignore[return-value]

    def release(self) -> None:
        """Stop renewing and tag the own claim released; a failure only leaves the lease to run out."""
        self._stop.set()
        if self.epoch < 0:
            return
        try:
            mark_released(self._client, self.epoch)
        except MlflowException as error:
            logger.warning("could not release %s (%s): it frees itself within %.0f s", self.name, error, self.lease_s)

    def _deadline(self) -> float | None:
        if self._stop.is_set() or self.epoch < 0:
            return None
        if self._lost is not None:
            raise LockLostError(f"{self.name}: {self._lost}")
        return self._trusted_until

    def _why_free(self, held: ModelVersion, now_ms: int) -> str | None:
        if held.tags.get(RELEASED_TAG):
            return "released"
        if held.tags.get(HOLDER_RUN_TAG) == self.holder_run:
            return "held by an earlier attempt of this pipeline run"
        idle_s = (now_ms - held.last_updated_timestamp) / 1000
        if idle_s > self.lease_s:
            return f"not renewed for {idle_s:.1f} s (lease {self.lease_s:.0f} s)"
        return None

    def _claim(self, after: int) -> bool:
        """Make a claim on the lock after claim `after`; True if it is valid (this holder now holds epoch k)."""
        started = time.monotonic()
        tags = {LOCK_OF_TAG: self.model_name, AFTER_TAG: str(after), HOLDER_RUN_TAG: self.holder_run}
        try:
            self._client.create_model_version(
                LOCKS_MODEL,
                claim_source(self.model_name),
                tags={**tags, TOKEN_TAG: self._token},
                description=f"held by pipeline run {self.holder_run} while it pushes {self.model_name}",
            )
        except MlflowException as error:
            # The store gives up after a few version-number collisions with other claims: a lost round.
            if "Model Version creation error" not in error.message:
                raise
            return False
        # A retried request may have made two claims: the valid one, if either, carries this holder's token.
        claims = lock_claims(self._client, self.model_name)
        newest = max(valid_epochs(claims), default=None)
        if newest is None or claims[newest].tags.get(TOKEN_TAG) != self._token:
            return False
        self.epoch = newest
        self._trusted_until = started + self.lease_s - self.safety_s
        return True

    def _delete_claims_below(self, claims: dict[int, ModelVersion]) -> None:
        """Delete what no validity depends on any more: every claim below the one before this holder's."""
        below = max((k for k in claims if k < self.epoch), default=0)
        for number in sorted(k for k in claims if k < below):
            try:
                self._client.delete_model_version(LOCKS_MODEL, str(number))
            except MlflowException as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    logger.warning("could not delete the old claim %s of %s: %s", number, self.model_name, error)

    def _renew_until_stopped(self) -> None:
        client = tracking.client(self.tracking_uri)
        while not self._stop.wait(self.lease_s / 4):
            started = time.monotonic()
            if started >= self._trusted_until:
                self._lost = "its lease ran out before it could be renewed"
                return
            try:
                # Unbounded: a late renewal only stamps this claim, which a takeover no longer reads.
                client.update_model_version(LOCKS_MODEL, str(self.epoch), description=f"renewed by {self._token}")
            except MlflowException as error:
                logger.warning("could not renew %s: %s", self.name, error)
                continue
            # A slow reply may have landed after a contender read the registry's clock: it does not count.
            if time.monotonic() - started < self.safety_s:
                self._trusted_until = started + self.lease_s - self.safety_s


class _Bounded:
    """An MlflowClient stand-in: each method call runs under tracking.http_deadline(deadline())."""

    def __init__(self, client: MlflowClient, deadline: Callable[[], float | None]) -> None:
        self._client = client
        self._deadline = deadline

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                with tracking.http_deadline(self._deadline()):
                    return attribute(*args, **kwargs)
            except tracking.DeadlineError as error:
                raise LockLostError(f"no registry call fits in what is left of the champion lease: {error}") from None

        return call


def _holder(held: ModelVersion | None) -> str:
    return "?" if held is None else held.tags.get(HOLDER_RUN_TAG, "?")
