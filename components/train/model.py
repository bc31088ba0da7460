"""The raw-in serving module exported around the trained Keras model.

The model comes from a builder (components.train.builders); what its output means is the task's
(components.tasks), which also names the serving outputs.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.common.specs.base import DatasetSpec
from components.data.raw_tensors import DENSE_DTYPES, dense_to_sparse, parse_csv_rows
from components.tasks import Task

# The signature of the model alone: transformed features in, the head's [batch, width] `output` out.
MODEL_SIGNATURE = "model_default"


class OutputScale(keras.layers.Layer):
    """A fixed affine map, `value * scale + shift`: puts a builder's near-zero output on the label's scale."""

    def __init__(self, shift: float, scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shift, self.scale = float(shift), float(scale)

    def call(self, inputs):
        return inputs * self.scale + self.shift

    def get_config(self) -> dict:
        return {**super().get_config(), "shift": self.shift, "scale": self.scale}


def scaled(model: keras.Model, shift: float, scale: float) -> keras.Model:
    """`model` followed by `OutputScale(shift, scale)`, over the same named inputs."""
    output = OutputScale(shift, scale, dtype="float32", name="output_scale")(model.outputs[0])
    return keras.Model(model.inputs, output, name=f"{model.name}_scaled")


def transform_raw(
    transform_layer: object, spec: DatasetSpec, model_inputs: Sequence[str], dense: dict[str, tf.Tensor]
) -> dict[str, tf.Tensor]:
    """Raw feature tensors to the model's transformed inputs, through the tf.Transform graph."""
    batch = tf.shape(next(iter(dense.values())))[0]
    complete = dict(dense)
    # Label source columns are transform inputs but not serving inputs: feed them as missing.
    for name in spec.label.source_columns:
        if name not in complete:
            dtype = DENSE_DTYPES[spec.column(name).dtype]
            complete[name] = tf.fill([batch], tf.constant("" if dtype == tf.string else math.nan, dtype))
    transformed = transform_layer(dense_to_sparse(complete, spec))
    return {name: transformed[name] for name in model_inputs}


class ServingModule(tf.Module):
    """Raw feature values in, the task's outputs out: the tf.Transform graph runs inside the SavedModel.

    `serving_default` takes one [batch] tensor per feature column (numbers as
    float64 with NaN for missing, text with "" for missing); `predict_csv` takes
    raw CSV lines in the dataset's column order, exactly as in the data file.
    """

    def __init__(
        self,
        model: keras.Model,
        model_inputs: Sequence[str],
        tft_output: tft.TFTransformOutput,
        spec: DatasetSpec,
        task: Task,
    ) -> None:
        super().__init__()
        self.model = model
        self.transform_layer = tft_output.transform_features_layer()
        self._spec = spec
        self._task = task
        self._model_inputs = list(model_inputs)
        feature_signature = {
            name: tf.TensorSpec([None], DENSE_DTYPES[spec.column(name).dtype], name=name)
            for name in spec.feature_columns
        }
        self.serving_default = tf.function(self._predict_dense, input_signature=[feature_signature])
        self.predict_csv = tf.function(
            self._predict_csv, input_signature=[tf.TensorSpec([None], tf.string, name="csv_rows")]
        )
        # The model alone on transformed features (compressed variants convert and distil from it).
        transformed_signature = {t.name: tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs}
        self.model_default = tf.function(self._predict_transformed, input_signature=[transformed_signature])

    def _predict_transformed(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {"output": self.model(features, training=False)}

    def _predict_dense(self, dense: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        features = transform_raw(self.transform_layer, self._spec, self._model_inputs, dense)
        return self._task.serving_outputs(self.model(features, training=False))

    def _predict_csv(self, csv_rows: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predict_dense(parse_csv_rows(csv_rows, self._spec))

    def export(self, export_dir: str) -> None:
        tf.saved_model.save(
            self,
            export_dir,
            signatures={
                "serving_default": self.serving_default,
                "predict_csv": self.predict_csv,
                MODEL_SIGNATURE: self.model_default,
            },
        )
