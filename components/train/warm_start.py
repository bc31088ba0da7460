"""Warm start: train from the registry champion's weights when it was built the same way (`warm_start=auto`).

Every export carries its build record, `model_build.json`: the builder, the task's head, the
transformed features (name, kind, dtype, shape, id count) with the tf.Transform vocabulary each id
feature reads, whose file is among the SavedModel's assets, and the width each id feature is
embedded at. Push uploads it with the model, under the version's manifest. A new run starts from the
champion only when the builder, the head and the features (all but their id counts) are the same and
every weight has the same shape here, apart from id rows; those are moved by token
(components.train.remap). An embedding's width follows its id count (components.train.builders.layers),
so a run starting from a champion builds its embeddings at the champion's widths
(`TransformedFeature.embedding_width`); a builder that does not honour them gets other shapes and falls
back. Otherwise, or when there is no champion, it trains from scratch and says why. The gate does not
care how training started.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf
from mlflow.exceptions import MlflowException

from components.common import storage, tracking
from components.common.feature_info import TransformedFeature
from components.common.specs.base import Categorical, DatasetSpec, Text
from components.tasks import Task
from components.train.remap import (
    IdRows,
    WarmStartError,
    embedding_widths,
    id_blocks,
    remap_rows,
    row_map,
    variables_by_path,
)
from components.transform.features import transformed_names

BUILD_RECORD = "model_build.json"
MODES = ("auto", "none")
# Set by push on every version: the SHA-256 of its MANIFEST.sha256 (what evaluate checks too).
MANIFEST_DIGEST_TAG = "manifest_sha256"
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


@dataclass(frozen=True)
class Champion:
    """The champion's version number and its verified files (a directory that outlives this object's use)."""

    version: str
    model_dir: Path


@dataclass(frozen=True)
class Outcome:
    """How training started: from `version` (with `carried`, a line per id feature) or from scratch, `reason` why."""

    version: str | None
    reason: str = ""
    carried: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        if self.version is None:
            return f"trained from scratch: {self.reason}"
        return f"warm-started from version {self.version}; embedding rows remapped by token: " + "; ".join(
            self.carried or ("no id features",)
        )


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"warm_start {mode!r}: expected one of {list(MODES)}")
    return mode


def vocabulary_names(spec: DatasetSpec) -> dict[str, tuple[str, int]]:
    """Each id feature backed by a tf.Transform vocabulary: (its vocabulary's name, rows before the tokens)."""
    names: dict[str, tuple[str, int]] = {}
    for feature in spec.features:
        (name, *_) = transformed_names(feature)
        if isinstance(feature, Categorical):
            names[name] = (feature.column, 0)
        elif isinstance(feature, Text):
            names[name] = (name, 1)  # id 0 is padding
    return names


def build_record(builder: str, task: Task, features: Sequence[TransformedFeature], spec: DatasetSpec) -> dict:
    """What identifies how a model was built, written beside its export (`with_widths` adds the model's widths)."""
    vocabularies = vocabulary_names(spec)
    return {
        "model_builder": builder,
        "task": task.kind,
        "output_width": task.output_width,
        "features": [
            {key: value for key, value in asdict(feature).items() if key != "embedding_width"} for feature in features
        ],
        "vocabularies": {name: {"asset": asset, "offset": offset} for name, (asset, offset) in vocabularies.items()},
    }


def with_widths(record: dict, model: keras.Model) -> dict:
    """`record` with the width each id input of `model` is embedded at."""
    return {**record, "embedding_widths": embedding_widths(model)}


def carried_widths(
    champion: Champion | str, record: dict, features: Sequence[TransformedFeature]
) -> list[TransformedFeature]:
    """`features` to build this run's model from: at the champion's embedding widths when its build fits this
    run's (`record`, made before the model), so that a vocabulary that grew or shrank keeps its width."""
    if isinstance(champion, str) or incompatibility(champion, record) is not None:
        return list(features)
    widths = json.loads((champion.model_dir / BUILD_RECORD).read_text()).get("embedding_widths", {})
    return [replace(feature, embedding_width=widths.get(feature.name)) for feature in features]


def write_build_record(export_dir: Path, record: dict) -> None:
    (export_dir / BUILD_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def find_champion(tracking_uri: str, model_name: str, workdir: Path, endpoint_url: str = "") -> Champion | str:
    """The champion's files, downloaded under `workdir` and checked against the manifest push recorded;
    or why there is none to start from."""
    client = tracking.client(tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS)
    except MlflowException as error:
        if error.error_code not in _NOT_FOUND_CODES:
            raise
        return f"model {model_name!r} has no champion yet"
    label = f"champion version {version.version}"
    store_uri = version.tags.get(tracking.STORE_URI_TAG)
    if not store_uri:
        return f"{label} has no {tracking.STORE_URI_TAG!r} tag"
    try:
        model_dir = storage.download_dir(store_uri, workdir / f"champion-{version.version}", endpoint_url or None)
    except (storage.StorageError, storage.ChecksumMismatchError) as error:
        return f"{label} at {store_uri} cannot be read: {error}"
    manifest = model_dir / storage.MANIFEST_NAME
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else "missing"
    recorded = version.tags.get(MANIFEST_DIGEST_TAG)
    if digest != recorded:
        return f"{label} at {store_uri}: manifest sha256 {digest}, the registry recorded {recorded}"
    return Champion(str(version.version), model_dir)


def incompatibility(champion: Champion, record: dict) -> str | None:
    """Why the champion was built otherwise than this run builds (`record`), or None when it was not."""
    path = champion.model_dir / BUILD_RECORD
    label = f"champion version {champion.version}"
    if not path.is_file():
        return f"{label} has no {BUILD_RECORD} (pushed before builds were recorded)"
    try:
        theirs = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return f"{label}: {BUILD_RECORD} unreadable: {error}"
    for key, what in (("model_builder", "builder"), ("task", "task"), ("output_width", "output width")):
        if theirs.get(key) != record[key]:
            return f"{label} was built with {what} {theirs.get(key)!r}, this run uses {record[key]!r}"
    ours_shape = [_shape(feature) for feature in record["features"]]
    their_shape = [_shape(feature) for feature in theirs.get("features", [])]
    if their_shape != ours_shape:
        differ = sorted(set(map(str, their_shape)) ^ set(map(str, ours_shape)))
        return f"{label} was built on other features (differing: {', '.join(differ)})"
    if theirs.get("vocabularies") != record["vocabularies"]:
        return f"{label} reads other vocabularies: {theirs.get('vocabularies')} against {record['vocabularies']}"
    return None


def _shape(feature: dict) -> tuple:
    """A feature as compatibility sees it: its id count only where no vocabulary moves its rows."""
    return (feature["name"], feature["kind"], feature["dtype"], feature.get("length"))


def warm_start(model: keras.Model, champion: Champion, record: dict, vocabulary_files: dict[str, Path]) -> Outcome:
    """Load the champion's weights into `model` (built here, not trained), id rows moved by token.

    `vocabulary_files` are this run's vocabulary files by transformed feature. Returns the outcome; a
    champion that does not fit is an Outcome from scratch with the reason, and `model` is left as built."""
    reason = incompatibility(champion, record)
    if reason is not None:
        return Outcome(None, reason)
    try:
        values, carried = _remapped(model, champion, record, vocabulary_files)
    except WarmStartError as error:
        return Outcome(None, f"champion version {champion.version}: {error}")
    for variable, value in values:
        variable.assign(value)
    return Outcome(champion.version, carried=tuple(carried))


def _remapped(
    model: keras.Model, champion: Champion, record: dict, vocabulary_files: dict[str, Path]
) -> tuple[list[tuple[object, object]], list[str]]:
    theirs = json.loads((champion.model_dir / BUILD_RECORD).read_text())
    old_rows = {f["name"]: int(f["vocabulary_size"]) for f in theirs["features"] if f.get("vocabulary_size")}
    new_rows = {f["name"]: int(f["vocabulary_size"]) for f in record["features"] if f.get("vocabulary_size")}
    maps, carried = {}, []
    for name, rows in new_rows.items():
        vocabulary = record["vocabularies"].get(name)
        if vocabulary is None:
            maps[name] = row_map(IdRows(old_rows[name]), IdRows(rows), name)
            continue
        asset = champion.model_dir / "assets" / vocabulary["asset"]
        if not asset.is_file():
            raise WarmStartError(f"its vocabulary {vocabulary['asset']!r} is not among its assets")
        old_tokens, new_tokens = _tokens(asset), _tokens(vocabulary_files[name])
        offset = int(vocabulary["offset"])
        maps[name] = row_map(IdRows(old_rows[name], offset, old_tokens), IdRows(rows, offset, new_tokens), name)
        kept = len(set(old_tokens) & set(new_tokens))
        carried.append(f"{name} {kept} carried, {len(new_tokens) - kept} new, {len(old_tokens) - kept} dropped")
    restored = tf.saved_model.load(str(champion.model_dir))
    old_variables = variables_by_path(restored.model)
    blocks = id_blocks(model, new_rows)
    values = []
    for path, variable in variables_by_path(model).items():
        old = old_variables.get(path)
        if path.startswith("/optimizer/") or (old is None and not variable.trainable):
            continue  # this run's optimizer starts afresh; state no checkpoint keeps (a seed) stays as built
        if old is None:
            raise WarmStartError(f"it has no weight at {path} ({variable.path})")
        old_value, fresh = old.numpy(), keras.ops.convert_to_numpy(variable.value)
        parts = blocks.get(id(variable))
        try:
            if parts is None:
                if old_value.shape != fresh.shape:
                    raise WarmStartError(f"shape {list(old_value.shape)} in the champion, {list(fresh.shape)} here")
                values.append((variable, old_value))
            else:
                old_parts = [(feature, old_rows[feature] if feature else length) for feature, length in parts]
                values.append((variable, remap_rows(old_value, fresh, old_parts, parts, maps)))
        except WarmStartError as error:
            raise WarmStartError(f"weight {variable.path}: {error}") from None
    return values, carried


def _tokens(path: Path) -> tuple[bytes, ...]:
    """A tf.Transform vocabulary file's tokens, one a line, in id order."""
    lines = Path(path).read_bytes().split(b"\n")
    return tuple(lines[:-1] if lines and lines[-1] == b"" else lines)


def start(mode: str, tracking_uri: str, model_name: str, workdir: Path, endpoint_url: str = "") -> Champion | str:
    """The champion to start from under `mode`, or why training starts from scratch."""
    if check_mode(mode) == "none":
        return "warm_start is 'none'"
    if not model_name:
        return "no model name to find a champion of"
    return find_champion(tracking_uri, model_name, workdir, endpoint_url)


def initialise(model: keras.Model, champion: Champion | str, record: dict, tft_output) -> Outcome:
    """`model` from the champion's weights when it fits (`champion` a reason instead: from scratch)."""
    if isinstance(champion, str):
        return Outcome(None, champion)
    files = {
        name: Path(tft_output.vocabulary_file_by_name(vocabulary["asset"]))
        for name, vocabulary in record["vocabularies"].items()
    }
    return warm_start(model, champion, record, files)
