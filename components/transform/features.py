"""The tf.Transform `preprocessing_fn` generated from a dataset spec.

Each spec feature becomes one or more transformed features through its role's transform
(`components.transform.roles`), named there so that the trainer can build its inputs from the same spec.
Numbers come out as float32 z-scores; categorical, bucket, time-part and grid-cell features come out as
int64 ids in [0, cardinality). Text comes out as a fixed-length int64 vector of token or n-gram ids,
0 being padding (see `Text`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import DatasetSpec, Feature
from components.tasks import task_of
from components.transform.roles import role_transform
from components.transform.roles.base import RoleTransform
from components.transform.roles.tensors import dense_raw
from components.transform.roles.treatments import graph_key, treat_inputs


def transformed_names(feature: Feature) -> list[str]:
    """Names of the transformed features one spec feature produces."""
    return role_transform(feature).names(feature)


def transformed_features(spec: DatasetSpec, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
    """What a model builder is given: every transformed feature's name, kind, dtype, shape and id count."""
    return [
        described for feature in spec.features for described in role_transform(feature).describe(feature, tft_output)
    ]


def categorical_cardinalities(spec: DatasetSpec, tft_output: tft.TFTransformOutput) -> dict[str, int]:
    """Number of distinct ids of every transformed feature that is one id."""
    return {
        feature.name: feature.vocabulary_size
        for feature in transformed_features(spec, tft_output)
        if feature.kind == "categorical" and feature.vocabulary_size is not None
    }


def make_preprocessing_fn(spec: DatasetSpec) -> Callable[[dict[str, tf.SparseTensor]], dict[str, tf.Tensor]]:
    """Every spec feature's transformed features, and the label as the task encodes it.

    Features read sensitive columns treated (`roles.treatments`); the key is read here, so a spec that
    pseudonymises without PSEUDONYMIZE_KEY is refused before any row is read.
    """
    task = task_of(spec)
    key = graph_key(spec)

    def preprocessing_fn(inputs: dict[str, tf.SparseTensor]) -> dict[str, tf.Tensor]:
        inputs = treat_inputs(spec.sensitive, inputs, key)
        outputs: dict[str, tf.Tensor] = {}
        for transform, features in _by_role(spec.features):
            outputs.update(transform.apply_all(features, inputs))
        label_inputs = {name: dense_raw(inputs[name]) for name in spec.label.source_columns}
        outputs[spec.label.name] = task.encode_label(spec.label.derive(label_inputs))
        return outputs

    return preprocessing_fn


def _by_role(features: Sequence[Feature]) -> list[tuple[RoleTransform[Any], list[Feature]]]:
    """The spec's features grouped by their role's transform, in the order each role first appears."""
    groups: dict[int, tuple[RoleTransform[Any], list[Feature]]] = {}
    for feature in features:
        transform = role_transform(feature)
        groups.setdefault(id(transform), (transform, []))[1].append(feature)
    return list(groups.values())
