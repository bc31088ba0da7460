"""Model builders: the built-in ones by name, and a user's by `package.module:function`.

The contract is one function signature:

    def build(features: Sequence[TransformedFeature], task: Task, hyperparameters: Hyperparameters) -> keras.Model

`features` describes the transformed features (components.common.feature_info: name, kind, dtype,
per-example shape, id count, and the embedding width to use when a warm start carries one); `task`
(components.tasks) gives the head: `task.output_layer()` or `task.output_width` units with
`task.output_activation`, float32; `hyperparameters` are the run's.
The model takes a dict of the named features and returns [batch, task.output_width] float32. It is
returned uncompiled: train compiles it with the task's loss and metrics and Adam at the run's
learning rate, and exports it behind the transform graph, so serving takes raw values.

A reference that does not import, or a model whose output is not what the task needs, is refused
before any training, naming the builder.
"""

from __future__ import annotations

import importlib
from typing import Callable, Sequence

import keras
import numpy as np

from components.common.feature_info import TransformedFeature
from components.tasks import Task
from components.train.hyperparameters import Hyperparameters

ModelBuilder = Callable[[Sequence[TransformedFeature], Task, Hyperparameters], keras.Model]
BUILT_IN = {
    "wide_and_deep": "components.train.builders.wide_and_deep:build",
    "mlp": "components.train.builders.mlp:build",
    "cnn": "components.train.builders.cnn:build",
}
# Examples in the batch the model is tried on before training.
_PROBE_ROWS = 2


class BuilderError(ValueError):
    """The builder cannot be imported or called, or its model does not fit the task."""


def resolve_builder(reference: str) -> ModelBuilder:
    """A built-in name, or `package.module:function` importable from the step's environment."""
    path = BUILT_IN.get(reference, reference)
    module_name, _, function_name = path.partition(":")
    if not module_name or not function_name:
        raise BuilderError(
            f"model builder {reference!r}: expected one of {sorted(BUILT_IN)} or 'package.module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BuilderError(f"model builder {reference!r}: cannot import module {module_name!r}: {error}") from error
    builder = getattr(module, function_name, None)
    if not callable(builder):
        raise BuilderError(f"model builder {reference!r}: module {module_name!r} has no function {function_name!r}")
    return builder


def build_checked(
    reference: str, features: Sequence[TransformedFeature], task: Task, hyperparameters: Hyperparameters
) -> keras.Model:
    """The builder's model, tried on a probe batch: its output must be [batch, output_width] float32."""
    model = resolve_builder(reference)(features, task, hyperparameters)
    if not isinstance(model, keras.Model):
        raise BuilderError(f"model builder {reference!r} returned {type(model).__name__}, not a keras.Model")
    try:
        output = model(probe_batch(features), training=False)
    except Exception as error:  # noqa: BLE001 - any failure here is the builder's, and must name it
        raise BuilderError(
            f"model builder {reference!r}: its model cannot take the transformed features "
            f"{[f.name for f in features]}: {type(error).__name__}: {error}"
        ) from error
    shape, dtype = tuple(output.shape), keras.backend.standardize_dtype(output.dtype)
    if shape != (_PROBE_ROWS, task.output_width) or dtype != "float32":
        raise BuilderError(
            f"model builder {reference!r}: expected output {task.describe_output()}, "
            f"got shape {list(shape)} {dtype} for a batch of {_PROBE_ROWS}"
        )
    return model


def probe_batch(features: Sequence[TransformedFeature]) -> dict[str, np.ndarray]:
    """A batch of zeros (id 0, value 0.0) shaped like the transformed features."""
    return {f.name: np.zeros((_PROBE_ROWS, *f.shape), dtype=f.dtype) for f in features}
