"""Scoring serving models on raw rows: the candidate, and the registry's champion or why it cannot be.

Both are scored through their `serving_default` signature, each fed exactly the raw columns its own
signature declares, taken from the candidate's eval rows. So a champion trained on an older spec is
scored on the columns it knows; one that needs a column the new data lacks (or gets it in another
type) cannot be scored, and the gate refuses the candidate saying so. What a model must answer, and
what evaluate scores of it, is the task's (`Task.predictions`): P(positive), per-class probabilities,
or the value on the original scale.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking
from components.evaluate.gate import ChampionScore
from components.tasks import Task

SERVING_SIGNATURE = "serving_default"
# Error codes MLflow's registry answers with when the model, or its alias, does not exist.
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}
# Set by push on every version: the SHA-256 of its MANIFEST.sha256.
MANIFEST_DIGEST_TAG = "manifest_sha256"
# Dense raw columns in, the task's predictions (one row per row) out.
Scorer = Callable[[Mapping[str, tf.Tensor]], np.ndarray]


class CorruptChampionError(RuntimeError):
    """The champion's files differ from what was pushed: an incident for a person, so the step fails."""


class UnscorableModelError(ValueError):
    """A model's signature does not fit the rows, or its outputs are not what the task's models answer."""


def load_scorer(model_dir: Path, task: Task, batch_size: int = 4096) -> Scorer:
    """The SavedModel's serving signature, loaded once: dense raw columns in, the task's predictions out.

    It is fed the columns it declares; rows that lack one, or hold it in another type, cannot be scored,
    nor can outputs the task refuses (UnscorableOutputError, a ValueError).
    """
    serve = tf.saved_model.load(str(model_dir)).signatures[SERVING_SIGNATURE]
    wanted: dict[str, tf.TensorSpec] = serve.structured_input_signature[1]

    def score(dense: Mapping[str, tf.Tensor]) -> np.ndarray:
        missing = sorted(name for name in wanted if name not in dense)
        if missing:
            raise UnscorableModelError(f"its signature needs column(s) {missing}, which the eval rows do not have")
        mistyped = [
            f"{name} ({spec.dtype.name}; the rows hold {dense[name].dtype.name})"
            for name, spec in wanted.items()
            if spec.dtype != dense[name].dtype
        ]
        if mistyped:
            raise UnscorableModelError(f"its signature wants other types for: {', '.join(mistyped)}")
        rows = int(next(iter(dense.values())).shape[0])
        if rows <= batch_size:  # one batch: the columns as they are (a slice is one more eager op per column)
            batches = [serve(**{name: dense[name] for name in wanted})]
        else:
            batches = [
                serve(**{name: dense[name][start : start + batch_size] for name in wanted})
                for start in range(0, rows, batch_size)
            ]
        arrays = [{name: value.numpy() for name, value in outputs.items()} for outputs in batches]
        return task.predictions(_joined(arrays), rows)

    return score


def _joined(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each output's batches end to end; one that is not per row (a scalar) is left out, for the task to refuse."""
    if len(batches) == 1:
        return batches[0]
    return {
        name: np.concatenate([batch[name] for batch in batches])
        for name in batches[0]
        if all(np.ndim(batch.get(name)) >= 1 for batch in batches)
    }


def score_champion(
    client: MlflowClient,
    model_name: str,
    dense: Mapping[str, tf.Tensor],
    targets: np.ndarray,
    task: Task,
    endpoint_url: str = "",
) -> ChampionScore:
    """The champion's metrics on the same rows, or the problem that prevented them.

    No champion (the first push) is not a problem. A champion whose files fail their checksums raises
    CorruptChampionError; any other failure to fetch, load or score it is returned as the problem.
    """
    try:
        version = client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS)
    except MlflowException as error:
        if error.error_code not in _NOT_FOUND_CODES:
            raise
        return ChampionScore(version=None, note=f"no champion for {model_name!r} yet: this is its first model")
    number = str(version.version)
    label = f"champion {model_name!r} version {number}"
    store_uri = version.tags.get(tracking.STORE_URI_TAG)
    if not store_uri:
        return ChampionScore(number, problem=f"{label} has no {tracking.STORE_URI_TAG!r} tag")
    try:
        with tempfile.TemporaryDirectory(prefix="champion-") as workdir:
            champion_dir = storage.download_dir(store_uri, Path(workdir) / "model", endpoint_url or None)
            _check_manifest_digest(champion_dir, version.tags.get(MANIFEST_DIGEST_TAG), store_uri)
            predictions = load_scorer(champion_dir, task)(dense)
    except storage.ChecksumMismatchError as error:
        raise CorruptChampionError(f"{label}: {error}") from error
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the gate must see it and refuse
        return ChampionScore(number, problem=f"{label} at {store_uri}: {type(error).__name__}: {error}")
    return ChampionScore(
        number, metrics=task.metrics(targets, predictions), note=f"{label} at {store_uri} scored on the same rows"
    )


def _check_manifest_digest(champion_dir: Path, expected: str | None, store_uri: str) -> None:
    """The downloaded manifest must be the one the registry recorded at push time."""
    manifest = champion_dir / storage.MANIFEST_NAME
    actual = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else "missing"
    if expected is None:
        raise UnscorableModelError(f"the registry recorded no {MANIFEST_DIGEST_TAG} to verify {store_uri} against")
    if actual != expected:
        raise storage.ChecksumMismatchError(
            f"{store_uri}/{storage.MANIFEST_NAME}: sha256 {actual}, the registry recorded {expected}"
        )
