"""The python_function flavor of a quantized variant: raw rows in, the full model's response schema out.

A variant's folder holds `model.tflite` (the candidate's model alone, on transformed features, quantized)
and `frame/`, a SavedModel with two signatures: `transform` (raw columns to the model's transformed
features, the candidate's tf.Transform graph) and `outputs` (the head's output to the task's serving
outputs). The TFLite model runs in LiteRT's interpreter (ai_edge_litert); the transform graph stays in
TensorFlow because its string and lookup ops are Select TF ops, which no interpreter installed here
links (docs/variants.md).

This file is imported on its own in a serving process (MLflow puts code/ on sys.path, beside
mlflow_model.py): it may import only numpy, pandas, tensorflow, ai_edge_litert, mlflow and mlflow_model.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

try:
    from components.train.mlflow_model import MISSING_VALUES_CONFIG, answer_frame, read_rows
except ImportError:  # a serving process: code/ holds both files
    from mlflow_model import MISSING_VALUES_CONFIG, answer_frame, read_rows  # type: ignore[no-redef]

TFLITE_FILE = "model.tflite"
FRAME_DIR = "frame"


class LiteRowsModel:
    """`predict(frame)`: raw rows through the transform graph (TensorFlow), the model (LiteRT), the outputs."""

    def __init__(self, root: str, missing_values: Sequence[str] = ()) -> None:
        import tensorflow as tf
        from ai_edge_litert.interpreter import Interpreter

        self._frame = tf.saved_model.load(str(Path(root) / FRAME_DIR))
        self._transform = self._frame.signatures["transform"]
        self._outputs = self._frame.signatures["outputs"]
        self._inputs: dict[str, Any] = self._transform.structured_input_signature[1]
        self._missing = frozenset(missing_values)
        self._interpreter = Interpreter(model_path=str(Path(root) / TFLITE_FILE))
        self._runner = self._interpreter.get_signature_runner()  # its only one
        self._types = {name: detail["dtype"] for name, detail in self._runner.get_input_details().items()}
        self._lock = threading.Lock()  # one interpreter: its tensors are not safe to share between threads

    def head(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """The quantized model's [rows, width] output for transformed features."""
        with self._lock:
            answer = self._runner(
                **{name: np.asarray(features[name]).astype(kind) for name, kind in self._types.items()}
            )
            return np.array(answer["output"], dtype=np.float32)

    def predict(self, data: pd.DataFrame | Mapping[str, Sequence[Any]], params: dict | None = None) -> pd.DataFrame:
        import tensorflow as tf

        features = read_rows(self._transform, self._inputs, data, self._missing)
        head = self.head({name: value.numpy() for name, value in features.items()})
        return answer_frame(self._outputs(output=tf.constant(head)))


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> LiteRowsModel:
    """MLflow's entry point for the python_function flavor: `path` is the variant's root."""
    return LiteRowsModel(path, (model_config or {}).get(MISSING_VALUES_CONFIG, ()))
