"""Numeric encodings: the spec's fields checked, the piecewise-linear formula on known values, and the
built-in builders taking an encoded vector (the transform's values: tests/unit/test_transform.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Binary, Numeric
from components.common.specs.vocabulary.checks import SpecError
from components.tasks import task_for
from components.train.builders import BUILT_IN, build_checked, probe_batch
from components.train.hyperparameters import Hyperparameters
from components.transform.roles.numeric import NumericTransform, piecewise_linear


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"encoding": "splines"}, "Numeric('fare').encoding: expected one of 'auto', 'z', 'quantile_bins'"),
        ({"bins": 1}, "Numeric('fare'): bins must be at least 2, not 1"),
        ({"bins": 4.5}, "Numeric('fare').bins: expected an integer, got 4.5"),
    ],
)
def test_a_numeric_encoding_the_transform_cannot_make_is_refused_naming_the_field(fields, expected):
    with pytest.raises(SpecError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        Numeric("fare", **fields)


def test_each_encoding_names_and_describes_its_features():
    describe = NumericTransform().describe
    assert [(f.name, f.kind, f.shape) for f in describe(Numeric("fare"), None)] == [
        ("fare_z", "numeric", ()),
        ("fare_ple", "numeric", (16,)),
    ]
    [bins] = describe(Numeric("fare", encoding="quantile_bins", bins=8), None)
    assert (bins.name, bins.kind, bins.vocabulary_size, bins.shape) == ("fare_bin", "categorical", 8, ())


def test_piecewise_linear_on_known_values():
    # Edges 0, 1, 1, 3: the middle bin has no width (a tie in the data), so it is a step at 1.
    edges = tf.constant([0.0, 1.0, 1.0, 3.0])
    values = tf.constant([-5.0, 0.0, 0.5, 1.0, 2.0, 3.0, 9.0])
    expected = [
        [0, 0, 0],
        [0, 0, 0],
        [0.5, 0, 0],
        [1, 1, 0],
        [1, 1, 0.5],
        [1, 1, 1],
        [1, 1, 1],
    ]
    np.testing.assert_allclose(piecewise_linear(values, edges).numpy(), expected)


@pytest.mark.parametrize("builder", sorted(BUILT_IN))
def test_built_in_builders_take_an_encoded_vector_and_a_bin_id(builder):
    features = [
        TransformedFeature("fare_z", "numeric", "float32"),
        TransformedFeature("fare_ple", "numeric", "float32", length=4),
        TransformedFeature("fare_bin", "categorical", "int64", vocabulary_size=4),
    ]
    model = build_checked(builder, features, task_for(Binary()), Hyperparameters(hidden_units=(8,)))
    ones = {**probe_batch(features), "fare_ple": np.ones((2, 4), dtype="float32")}
    assert not np.allclose(model(ones).numpy(), model(probe_batch(features)).numpy()), (
        "the vector must reach the output"
    )
