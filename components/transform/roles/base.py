"""The one interface every feature role's transform implements (see `components.transform.roles`)."""

from __future__ import annotations

from typing import Generic, Sequence, TypeVar

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature

Role = TypeVar("Role")
RawInputs = dict[str, tf.SparseTensor]


class RoleTransform(Generic[Role]):
    """How one kind of spec feature becomes model input.

    `names` is known before any analysis (the trainer and warm start use it); `describe` tells builders each
    transformed feature's kind, dtype, shape and id count once the analysis has run; `apply` is the
    preprocessing graph, the same at training and at serving. The transform calls `apply_all` with every
    feature of the role at once, so that a role can share one analyzer between its columns (each analyzer
    is a chain of Beam stages, whose fixed cost dominates on tables of a few thousand rows).
    """

    def names(self, feature: Role) -> list[str]:
        raise NotImplementedError

    def describe(self, feature: Role, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        raise NotImplementedError

    def apply(self, feature: Role, inputs: RawInputs) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def apply_all(self, features: Sequence[Role], inputs: RawInputs) -> dict[str, tf.Tensor]:
        outputs: dict[str, tf.Tensor] = {}
        for feature in features:
            outputs.update(self.apply(feature, inputs))
        return outputs
