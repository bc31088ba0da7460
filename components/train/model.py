"""The Keras model over transformed features, and the raw-in serving module exported around it."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.common.raw_tensors import DENSE_DTYPES, dense_to_sparse, parse_csv_rows
from components.common.specs.base import DatasetSpec

PROBABILITY = "probability"


def embedding_width(cardinality: int) -> int:
    """A common rule of thumb: about 1.6 × cardinality^0.56, capped to keep small data from overfitting."""
    return max(2, min(16, math.ceil(1.6 * cardinality**0.56)))


def build_model(
    numeric_features: Sequence[str],
    categorical_cardinalities: dict[str, int],
    hidden_units: Sequence[int],
    dropout: float,
    learning_rate: float,
) -> keras.Model:
    """Wide-and-deep style network: embeddings and scaled numbers into a ReLU stack, plus a linear one-hot path."""
    inputs: dict[str, keras.KerasTensor] = {}
    deep_parts, wide_parts = [], []
    for name in numeric_features:
        inputs[name] = keras.Input(shape=(), name=name, dtype="float32")
        deep_parts.append(keras.layers.Reshape((1,))(inputs[name]))
    for name, cardinality in categorical_cardinalities.items():
        inputs[name] = keras.Input(shape=(), name=name, dtype="int64")
        embedded = keras.layers.Embedding(cardinality, embedding_width(cardinality), name=f"{name}_embedding")(
            inputs[name]
        )
        deep_parts.append(embedded)
        wide_parts.append(keras.layers.CategoryEncoding(cardinality, output_mode="one_hot")(inputs[name]))
    deep = keras.layers.Concatenate()(deep_parts)
    for units in hidden_units:
        deep = keras.layers.Dense(units, activation="relu")(deep)
        deep = keras.layers.Dropout(dropout)(deep)
    wide = keras.layers.Concatenate()(wide_parts + deep_parts[: len(numeric_features)])
    logit = keras.layers.Add()([keras.layers.Dense(1)(deep), keras.layers.Dense(1)(wide)])
    # The output stays float32 under mixed precision so that probabilities and the loss are exact.
    probability = keras.layers.Activation("sigmoid", dtype="float32", name=PROBABILITY)(logit)
    model = keras.Model(inputs, probability)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


class ServingModule(tf.Module):
    """Raw feature values in, probability out: the tf.Transform graph runs inside the SavedModel.

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
    ) -> None:
        super().__init__()
        self.model = model
        self.transform_layer = tft_output.transform_features_layer()
        self._spec = spec
        self._model_inputs = list(model_inputs)
        feature_signature = {
            name: tf.TensorSpec([None], DENSE_DTYPES[spec.column(name).dtype], name=name)
            for name in spec.feature_columns
        }
        self.serving_default = tf.function(self._predict_dense, input_signature=[feature_signature])
        self.predict_csv = tf.function(
            self._predict_csv, input_signature=[tf.TensorSpec([None], tf.string, name="csv_rows")]
        )

    def _predict_dense(self, dense: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        batch = tf.shape(next(iter(dense.values())))[0]
        complete = dict(dense)
        # Label source columns are transform inputs but not serving inputs: feed them as missing.
        for name in self._spec.label.source_columns:
            if name not in complete:
                dtype = DENSE_DTYPES[self._spec.column(name).dtype]
                complete[name] = tf.fill([batch], tf.constant("" if dtype == tf.string else math.nan, dtype))
        transformed = self.transform_layer(dense_to_sparse(complete, self._spec))
        features = {name: transformed[name] for name in self._model_inputs}
        return {PROBABILITY: tf.reshape(self.model(features, training=False), [-1])}

    def _predict_csv(self, csv_rows: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predict_dense(parse_csv_rows(csv_rows, self._spec))

    def export(self, export_dir: str) -> None:
        tf.saved_model.save(
            self,
            export_dir,
            signatures={"serving_default": self.serving_default, "predict_csv": self.predict_csv},
        )
