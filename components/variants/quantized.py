"""Quantized variants: the candidate's model, alone on transformed features (its serving SavedModel's
`model_default` signature), converted by TensorFlow's TFLite converter, behind the
candidate's own transform graph (components.variants.lite_model).

- `float16`: weights stored as float16;
- `int8`: dynamic-range quantization (int8 weights, float activations);
- `int8_full`: full-integer quantization calibrated on a sample of the train split's transformed rows.

The transform graph is not converted: its string and lookup-table ops need Select TF ops (Flex), and
neither TensorFlow's tf.lite.Interpreter nor ai_edge_litert as installed links the Flex delegate (tried:
"Select TensorFlow op(s) ... not supported by this interpreter"). A conversion that fails is refused
with the converter's reason, never a failed run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components.data.raw_tensors import DENSE_DTYPES
from components.tasks import Task, task_of
from components.train.input import Split
from components.train.model import MODEL_SIGNATURE, transform_raw
from components.transform.layout import TRAIN
from components.variants import lite_model
from components.variants.base import Candidate, VariantRefused
from components.variants.packaging import save_pyfunc

QUANTIZATIONS = ("float16", "int8", "int8_full")
REPRESENTATIVE_ROWS = 200
LITERT_REQUIREMENT = "ai-edge-litert==2.3.0"


class FrameModule(tf.Module):
    """What surrounds the quantized model: raw columns to transformed features, and the head to the
    task's serving outputs."""

    def __init__(self, candidate: Candidate, model_inputs: list[str], task: Task) -> None:
        super().__init__()
        spec = candidate.spec
        self.transform_layer = tft.TFTransformOutput(str(candidate.transform_graph_dir)).transform_features_layer()
        raw = {
            name: tf.TensorSpec([None], DENSE_DTYPES[spec.column(name).dtype], name=name)
            for name in spec.feature_columns
        }
        self.transform = tf.function(
            lambda dense: transform_raw(self.transform_layer, spec, model_inputs, dense), input_signature=[raw]
        )
        head = tf.TensorSpec([None, task.output_width], tf.float32, name="output")
        self.outputs = tf.function(task.serving_outputs, input_signature=[head])

    def save(self, path: Path) -> None:
        tf.saved_model.save(self, str(path), signatures={"transform": self.transform, "outputs": self.outputs})


def model_signature(candidate: Candidate) -> tuple[object, tf.types.experimental.ConcreteFunction]:
    """The loaded candidate (which keeps its variables alive) and its model alone; a candidate exported
    before it had that signature cannot be compressed."""
    loaded = tf.saved_model.load(str(candidate.export_dir))
    if MODEL_SIGNATURE not in loaded.signatures:
        raise VariantRefused(f"{candidate.export_dir} has no {MODEL_SIGNATURE!r} signature (exported before variants)")
    return loaded, loaded.signatures[MODEL_SIGNATURE]


def train_features(candidate: Candidate, names: list[str]) -> dict[str, np.ndarray]:
    """The train split's transformed features the model reads."""
    output = tft.TFTransformOutput(str(candidate.transform_graph_dir))
    split = Split.read(candidate.examples_dir, TRAIN, output.transformed_feature_spec(), candidate.spec.label.name)
    return {name: split.features[name] for name in names}


@dataclass(frozen=True)
class Quantized:
    name: str

    def _converter(self, candidate: Candidate, loaded: object, signature, names: list[str]) -> tf.lite.TFLiteConverter:
        # From the loaded signature, not from_saved_model: that path leaves the Keras weights as resource
        # variables that no initializer sets (the interpreter answers NaN); this one freezes them.
        converter = tf.lite.TFLiteConverter.from_concrete_functions([signature], loaded)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.name == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif self.name == "int8_full":
            sample = train_features(candidate, names)
            rows = min(REPRESENTATIVE_ROWS, len(next(iter(sample.values()))))

            def representative() -> Iterator[dict[str, np.ndarray]]:
                for row in range(rows):
                    yield {name: values[row : row + 1] for name, values in sample.items()}

            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter

    def build(self, candidate: Candidate, out_dir: Path) -> Path:
        task = task_of(candidate.spec)
        loaded, signature = model_signature(candidate)
        names = sorted(signature.structured_input_signature[1])
        try:
            flat = self._converter(candidate, loaded, signature, names).convert()
        except Exception as error:  # noqa: BLE001 - the converter's many errors all mean: not this variant
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise VariantRefused(f"{self.name}: the TFLite converter refused the model: {first}") from None
        out_dir.mkdir(parents=True)
        (out_dir / lite_model.TFLITE_FILE).write_bytes(flat)
        FrameModule(candidate, names, task).save(out_dir / lite_model.FRAME_DIR)
        save_pyfunc(
            candidate.export_dir,
            out_dir,
            Path(lite_model.__file__),
            [LITERT_REQUIREMENT],
            candidate.spec.missing_values,
        )
        return out_dir
