"""The one interface every feature role's transform implements (see `components.transform.roles`)."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature

Role = TypeVar("Role", contravariant=True)
RawInputs = dict[str, tf.SparseTensor]


class RoleTransform(Protocol, Generic[Role]):
    """How one kind of spec feature becomes model input.

    `names` is known before any analysis (the trainer and warm start use it); `describe` tells builders each
    transformed feature's kind, dtype, shape and id count once the analysis has run; `apply` is the
    preprocessing graph, the same at training and at serving.
    """

    def names(self, feature: Role) -> list[str]: ...

    def describe(self, feature: Role, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]: ...

    def apply(self, feature: Role, inputs: RawInputs) -> dict[str, tf.Tensor]: ...
