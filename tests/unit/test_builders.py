"""Model builders: each built-in one's output per task, and the errors that name a wrong builder."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

from components.common.feature_info import TransformedFeature
from components.common.specs.base import Binary, Multiclass, Regression
from components.tasks import task_for
from components.train.builders import BUILT_IN, BuilderError, build_checked, probe_batch, resolve_builder
from components.train.hyperparameters import Hyperparameters

FEATURES = [
    TransformedFeature("size_z", "numeric", "float32"),
    TransformedFeature("colour_id", "categorical", "int64", vocabulary_size=4),
    TransformedFeature("review_tokens", "sequence", "int64", vocabulary_size=50, length=6),
]
TASKS = {"binary": Binary(), "multiclass": Multiclass(("a", "b", "c", "d")), "regression": Regression()}
SMALL = Hyperparameters(hidden_units=(8,))


@pytest.mark.parametrize("builder", sorted(BUILT_IN))
@pytest.mark.parametrize("kind", sorted(TASKS))
def test_each_built_in_builder_ends_in_the_tasks_head(builder, kind):
    task = task_for(TASKS[kind])
    model = build_checked(builder, FEATURES, task, SMALL)
    output = model(probe_batch(FEATURES))
    assert tuple(output.shape) == (2, task.output_width)
    values = keras.ops.convert_to_numpy(model({**probe_batch(FEATURES), "size_z": np.full((2,), 3.0, dtype="float32")}))
    if kind == "multiclass":
        assert values.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    if kind == "binary":
        assert ((values > 0) & (values < 1)).all()


def test_padding_ids_do_not_move_a_pooled_sequence():
    """Id 0 is padding: a sequence with more padding after the same tokens means the same."""
    task = task_for(Binary())
    model = build_checked("mlp", FEATURES, task, SMALL)
    batch = probe_batch(FEATURES)
    batch["review_tokens"] = np.array([[5, 7, 0, 0, 0, 0], [5, 7, 0, 0, 0, 0]], dtype="int64")
    same = keras.ops.convert_to_numpy(model(batch))
    assert same[0] == pytest.approx(same[1])
    batch["review_tokens"] = np.array([[5, 7, 0, 0, 0, 0], [5, 7, 9, 0, 0, 0]], dtype="int64")
    differs = keras.ops.convert_to_numpy(model(batch))
    assert differs[0] != pytest.approx(differs[1])


def _forgets_the_task(features, task, hyperparameters):
    inputs = {f.name: keras.Input(shape=f.shape, name=f.name, dtype=f.dtype) for f in features}
    return keras.Model(
        inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Reshape((1,))(inputs["size_z"]))
    )


def _not_a_model(features, task, hyperparameters):
    return "a model, honestly"


def _wrong_inputs(features, task, hyperparameters):
    only = keras.Input(shape=(3,), name="something_else", dtype="float32")
    return keras.Model({"something_else": only}, task.output_layer()(only))


@pytest.fixture
def user_module(monkeypatch):
    module = type(sys)("my_models")
    module.forgets_the_task = _forgets_the_task
    module.not_a_model = _not_a_model
    module.wrong_inputs = _wrong_inputs
    monkeypatch.setitem(sys.modules, "my_models", module)
    return module


def test_a_builder_with_the_wrong_output_is_refused_naming_it_and_what_was_expected(user_module):
    task = task_for(TASKS["multiclass"])
    with pytest.raises(BuilderError) as error:
        build_checked("my_models:forgets_the_task", FEATURES, task, SMALL)
    message = str(error.value)
    assert "my_models:forgets_the_task" in message
    assert "[batch, 4] float32 (multiclass head: softmax)" in message and "got shape [2, 1] float32" in message


def test_a_builder_that_returns_no_model_or_cannot_take_the_features_is_refused(user_module):
    task = task_for(Binary())
    with pytest.raises(BuilderError, match="my_models:not_a_model.* returned str, not a keras.Model"):
        build_checked("my_models:not_a_model", FEATURES, task, SMALL)
    with pytest.raises(BuilderError, match="my_models:wrong_inputs.*cannot take the transformed features"):
        build_checked("my_models:wrong_inputs", FEATURES, task, SMALL)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_such_package.models:build", "cannot import module 'no_such_package.models'"),
        ("components.train.builders.mlp:nothing_here", "has no function 'nothing_here'"),
        ("wide-and-deep", r"expected one of \['cnn', 'mlp', 'wide_and_deep'\] or 'package.module:function'"),
    ],
)
def test_a_reference_that_does_not_resolve_is_refused_before_anything_is_built(reference, message):
    with pytest.raises(BuilderError, match=message):
        resolve_builder(reference)
