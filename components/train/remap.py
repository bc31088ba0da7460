"""Carrying a trained model's weights into a new one of the same build, id rows moved by token.

tf.Transform recomputes its vocabularies every run, so id 7 of `carrier` may be another carrier in the
new run than in the champion's. A row of a table indexed by such ids (an embedding, or the wide path's
kernel over one-hot ids) is moved to where its token now is; a token new to this run keeps the new
model's initial row, and one the new vocabulary dropped is dropped. Every other weight must have the
same shape in both models and is copied as it is.

Which rows of a variable belong to which feature is read from the new Keras model's graph: an
`Embedding` over a model input, and a `Dense` layer over a `CategoryEncoding` of a model input (or a
concatenation of such and other parts) index their first axis by that input's ids.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

# One stretch of a variable's first axis: (feature whose ids index it, or None; its length in the new model).
Block = tuple[str | None, int]


class WarmStartError(ValueError):
    """The champion's weights cannot be carried into this model; the message says why."""


@dataclass(frozen=True)
class IdRows:
    """What each id of a feature means: `offset` leading rows (text's padding 0) kept by position, then one
    row per vocabulary token, then the out-of-vocabulary buckets, kept by position. Without `tokens`
    (bucket, time-part and grid-cell ids), every row is kept by position."""

    rows: int
    offset: int = 0
    tokens: tuple[bytes, ...] | None = None


def row_map(old: IdRows, new: IdRows, feature: str) -> list[int | None]:
    """For each row of the new table, the champion's row holding the same id's weights (None: start fresh)."""
    if new.tokens is None or old.tokens is None:
        if old.rows != new.rows:
            raise WarmStartError(f"feature {feature!r} has {old.rows} ids in the champion and {new.rows} here")
        return list(range(new.rows))
    old_oov = old.rows - old.offset - len(old.tokens)
    new_oov = new.rows - new.offset - len(new.tokens)
    if old_oov != new_oov or old.offset != new.offset:
        raise WarmStartError(
            f"feature {feature!r}: {old_oov} out-of-vocabulary ids after {old.offset} in the champion, "
            f"{new_oov} after {new.offset} here"
        )
    where = {token: old.offset + index for index, token in enumerate(old.tokens)}
    after = old.offset + len(old.tokens)
    return [*range(new.offset), *(where.get(token) for token in new.tokens), *range(after, after + new_oov)]


def remap_rows(
    old: np.ndarray, fresh: np.ndarray, old_blocks: Sequence[Block], new_blocks: Sequence[Block],
    maps: Mapping[str, list[int | None]],
) -> np.ndarray:  # fmt: skip
    """`fresh` (the new model's initial value) with each block's rows taken from `old` as `maps` says.

    A block of no feature must have the same length in both; the trailing axes must agree."""
    if old.shape[1:] != fresh.shape[1:]:
        raise WarmStartError(f"shape {list(old.shape)} in the champion, {list(fresh.shape)} here")
    value = fresh.copy()
    old_start = new_start = 0
    for (feature, old_length), (_, new_length) in zip(old_blocks, new_blocks):
        mapping = maps[feature] if feature is not None else list(range(new_length))
        if feature is None and old_length != new_length:
            raise WarmStartError(f"a part of {old_length} rows in the champion has {new_length} here")
        for row, source in enumerate(mapping):
            if source is not None:
                value[new_start + row] = old[old_start + source]
        old_start, new_start = old_start + old_length, new_start + new_length
    if old_start != old.shape[0] or new_start != fresh.shape[0]:
        raise WarmStartError(f"rows {old.shape[0]} in the champion, {fresh.shape[0]} here, parts {list(new_blocks)}")
    return value


def variables_by_path(root: object) -> dict[str, object]:
    """Every variable under `root` by its checkpoint path (first found breadth-first, as a checkpoint names it).

    The same path in a restored SavedModel's Keras model and in a new model of the same build is the same
    weight: both follow the model's tracked attributes (`_operations/<layer index>/<variable>`)."""
    found: dict[str, object] = {}
    seen = {id(root)}
    queue: deque[tuple[str, object]] = deque([("", root)])
    while queue:
        path, node = queue.popleft()
        if isinstance(node, (tf.Variable, keras.Variable)):
            found[path] = node
            continue
        for name, child in node._trackable_children(save_type="checkpoint").items():
            if id(child) not in seen:
                seen.add(id(child))
                queue.append((f"{path}/{name}", child))
    return found


def id_blocks(model: keras.Model, features: Mapping[str, int]) -> dict[int, list[Block]]:
    """For each variable (by id) whose first axis is indexed by features' ids, its blocks in the new model.

    `features` maps the model's id inputs to their id counts."""
    blocks: dict[int, list[Block]] = {}
    for layer in _layers(model):
        if not layer._inbound_nodes:
            continue
        inputs = layer._inbound_nodes[0].input_tensors
        if isinstance(layer, keras.layers.Embedding) and len(inputs) == 1:
            name = _input_name(inputs[0])
            if name in features:
                blocks[id(layer.embeddings)] = [(name, features[name])]
        elif isinstance(layer, keras.layers.Dense) and len(inputs) == 1:
            parts = _parts(inputs[0], features)
            if any(feature is not None for feature, _ in parts):
                blocks[id(layer.kernel)] = parts
    return blocks


def embedding_widths(model: keras.Model) -> dict[str, int]:
    """The width of each `Embedding` over a model input, by that input's name."""
    widths: dict[str, int] = {}
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Embedding) and layer._inbound_nodes:
            inputs = layer._inbound_nodes[0].input_tensors
            name = _input_name(inputs[0]) if len(inputs) == 1 else None
            if name is not None:
                widths[name] = int(layer.output_dim)
    return widths


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)]


def _input_name(tensor: keras.KerasTensor) -> str | None:
    operation = tensor._keras_history.operation
    return operation.name if isinstance(operation, keras.layers.InputLayer) else None


def _parts(tensor: keras.KerasTensor, features: Mapping[str, int]) -> list[Block]:
    """The stretches of a tensor's last axis: one-hot ids of a model input, or anything else (None)."""
    operation = tensor._keras_history.operation
    node = operation._inbound_nodes[tensor._keras_history.node_index] if operation._inbound_nodes else None
    if isinstance(operation, keras.layers.CategoryEncoding) and node and len(node.input_tensors) == 1:
        name = _input_name(node.input_tensors[0])
        if name in features:
            return [(name, features[name])]
    if isinstance(operation, keras.layers.Concatenate) and node and operation.axis in (-1, len(tensor.shape) - 1):
        return [part for each in node.input_tensors for part in _parts(each, features)]
    return [(None, int(tensor.shape[-1]))]
