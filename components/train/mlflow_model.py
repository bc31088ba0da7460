"""The exported SavedModel as an MLflow model: MLflow's files beside the SavedModel's, in one directory.

The SavedModel's own files (saved_model.pb, variables/, assets/) stay at the root, so the directory is
still what `tf.saved_model.load` and evaluate read; MLflow's (MLmodel, the environment files, the input
example, code/mlflow_model.py) join them. MLmodel declares two flavors over the same files:

- `tensorflow` (model_type tf2-module, saved_model_dir "."): `mlflow.tensorflow.load_model` gives the
  SavedModel back, signatures and all;
- `python_function`, loaded by this very module (copied into code/): `mlflow.pyfunc.load_model` answers
  a pandas frame of raw rows (NaN, None or a missing spelling where a value is missing) with the serving
  signature's outputs.

Values are read by the training rules (components/data/values.py), which the SavedModel's graph holds
(components/data/raw_tensors.py): a request it refuses (a never-missing column without a value, inf,
3.5 in an int column) raises an MlflowException naming the column, which MLflow's scoring server answers
with a 400. The signature declares each column as pandas and pyarrow read the training data: text as
string, a never-missing int as long (int64), a never-missing float as double (float64), and a number that
may be missing as Any (pandas reads it as int64, float64 or Int64 depending on the rows, and no MLflow
type takes all three; this module checks those values itself). The missing spellings are the flavor's
model config.

The tensorflow flavor's own pyfunc is not used: for a tf.Module it accepts one array and calls the
module itself, while this SavedModel takes one tensor per raw column through `serving_default`; and
`mlflow.tensorflow.save_model` would save the module again and allows only tensor signatures, not the
named, typed columns a frame of raw rows has.

This file is imported on its own in a serving process (MLflow puts code/ on sys.path): it may import
only numpy, pandas, tensorflow and mlflow at the top.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import AnyType, Array, ColSpec, DataType, Schema

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

    from components.common.specs.base import DatasetSpec

SERVING_SIGNATURE = "serving_default"
LOADER_MODULE = Path(__file__).stem
# What the tensorflow flavor calls a SavedModel of a tf.Module (mlflow.tensorflow's _MODEL_TYPE_TF2_MODULE).
TF2_MODULE = "tf2-module"
# How the signature declares a raw column: MLflow's type names, and ANY for a number that may be missing.
ANY = "any"
NEVER_MISSING_TYPES = {"float": "double", "int": "long", "string": "string"}
MISSING_VALUES_CONFIG = "missing_values"
REFUSAL = re.compile(r"assertion failed: \[(.*?)\] \[(.*?)\]\s*$", re.MULTILINE)


class InputError(MlflowException):
    """A request's frame lacks a column or holds a value the training rules refuse; the message names the column."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


class RawRowsModel:
    """`predict(frame)`: raw rows in, one column per serving output out (a list per row for a [n, k] output)."""

    def __init__(self, saved_model_dir: str, missing_values: Sequence[str] = ()) -> None:
        import tensorflow as tf

        self._module = tf.saved_model.load(saved_model_dir)  # keeps the signature's variables alive
        self._serve = self._module.signatures[SERVING_SIGNATURE]
        self._inputs: dict[str, Any] = self._serve.structured_input_signature[1]
        self._missing = frozenset(missing_values)

    @property
    def serve(self) -> Any:
        """The SavedModel's `serving_default` concrete function."""
        return self._serve

    def predict(self, data: pd.DataFrame | Mapping[str, Sequence[Any]], params: dict | None = None) -> pd.DataFrame:
        return answer_frame(read_rows(self._serve, self._inputs, data, self._missing))


def read_rows(
    graph: Any, inputs: Mapping[str, Any], data: pd.DataFrame | Mapping[str, Sequence[Any]], missing: frozenset[str]
) -> dict[str, Any]:
    """A request's raw rows through `graph` (one tensor per column of `inputs`): its outputs, or InputError naming
    the column absent or refused. Both pyfuncs (this one and components/variants/lite_model.py) read here."""
    import tensorflow as tf

    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    absent = [name for name in inputs if name not in frame.columns]
    if absent:
        raise InputError(f"missing column(s) {absent}; the model reads {sorted(inputs)}")
    feed = {name: _tensor(name, frame[name], spec.dtype, missing) for name, spec in inputs.items()}
    try:
        return graph(**feed)
    except tf.errors.InvalidArgumentError as error:
        raise InputError(refusal(error.message)) from None


def answer_frame(outputs: Mapping[str, Any]) -> pd.DataFrame:
    """Serving outputs (name to tensor) as the response frame: one column per output, sorted by name."""
    return pd.DataFrame({name: _column(value.numpy()) for name, value in sorted(outputs.items())})


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> RawRowsModel:
    """MLflow's entry point for the python_function flavor: `path` is the model's root."""
    return RawRowsModel(path, (model_config or {}).get(MISSING_VALUES_CONFIG, ()))


def refusal(message: str) -> str:
    """The graph's refusal (an Assert's "assertion failed: [what] [values]") as one line; else the first line."""
    found = REFUSAL.search(message)
    if found is None:
        return message.strip().splitlines()[0]
    return f"{found.group(1)} {found.group(2)}".replace("\\'", "'")


def _tensor(name: str, values: pd.Series, dtype: Any, spellings: frozenset[str]) -> Any:
    """One column as the signature's tensor: text with "" for missing; numbers with NaN for missing, a
    missing spelling among them too. The graph then checks the values by the training rules."""
    import tensorflow as tf

    missing = values.isna().to_numpy()
    if dtype == tf.string:
        # An image column's values are its encoded bytes (the scoring server decodes them from base64).
        wrong = [value for value, gap in zip(values, missing) if not gap and not isinstance(value, (str, bytes))]
        if wrong:
            raise InputError(f"column {name!r} holds {wrong[0]!r} ({type(wrong[0]).__name__}); expected text")
        return tf.constant(["" if gap else value for value, gap in zip(values, missing)], tf.string)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return tf.constant(values.to_numpy(dtype="float64", na_value=np.nan), dtype)
    numbers = []
    for value, gap in zip(values, missing):
        if gap or (isinstance(value, str) and value.strip() in spellings):
            numbers.append(np.nan)
        elif isinstance(value, (str, bytes, bool, np.bool_)) or not np.isscalar(value):
            raise InputError(f"column {name!r} holds {value!r} ({type(value).__name__}); expected a number")
        else:
            numbers.append(float(value))
    return tf.constant(np.array(numbers, dtype="float64"), dtype)


def _column(values: np.ndarray) -> list:
    if values.dtype == object:
        return [value.decode() if isinstance(value, bytes) else value for value in values.reshape(-1).tolist()]
    return values.tolist() if values.ndim > 1 else values.reshape(-1).tolist()


def spec_inputs(spec: DatasetSpec) -> list[tuple[str, str]]:
    """(column, signature type) of every raw column the model reads, in the file's order (see the module's doc)."""
    from components.data.values import never_missing

    required = never_missing(spec)
    images = {feature.column for feature in spec.features if feature.kind == "image"}
    return [
        (name, "binary") if name in images else
        (name, NEVER_MISSING_TYPES[spec.column(name).dtype] if name in required or spec.column(name).dtype == "string"
         else ANY)
        for name in spec.feature_columns
    ]  # fmt: skip


def typed_frame(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """`frame` with each raw column of the dtype the signature (spec_inputs) declares, and a number that may be
    missing as pandas reads it (Int64 in an int column): the input example and a variant's gate type frames here."""
    dtypes = {"string": object, "binary": object, "long": "int64", "double": "float64"}
    typed = frame.copy()
    for name, kind in spec_inputs(spec):
        number = "Int64" if spec.column(name).dtype == "int" else "float64"
        typed[name] = typed[name].astype(dtypes.get(kind) or number)
    return typed


def saved_model_inputs(saved_model_dir: Path) -> list[tuple[str, str]]:
    """(column, signature type) of the SavedModel's `serving_default` inputs, for a SavedModel without a spec."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(saved_model_dir)).signatures[SERVING_SIGNATURE]
    return [
        (name, "string" if spec.dtype == tf.string else "double")
        for name, spec in sorted(serve.structured_input_signature[1].items())
    ]


def signature(model: RawRowsModel, saved_model_dir: Path, inputs: Sequence[tuple[str, str]]) -> ModelSignature:
    """Raw columns in; out, the serving signature's outputs (a [n, k] one as an array per row).

    Fails when `inputs` are not exactly the columns the SavedModel's `serving_default` takes.
    """
    import tensorflow as tf

    serve = model.serve
    taken = set(serve.structured_input_signature[1])
    if taken != {name for name, _ in inputs}:
        raise ValueError(
            f"{saved_model_dir}: {SERVING_SIGNATURE} takes {sorted(taken)}, not the columns "
            f"{sorted(name for name, _ in inputs)}"
        )
    outputs = []
    for name, spec in sorted(serve.structured_outputs.items()):
        kind = DataType.string if spec.dtype == tf.string else DataType.double
        outputs.append(ColSpec(Array(kind) if spec.shape.rank == 2 else kind, name))
    return ModelSignature(inputs=input_schema(inputs), outputs=Schema(outputs))


def input_schema(inputs: Sequence[tuple[str, str]]) -> Schema:
    """The signature's inputs: one required column each, of the MLflow type named (ANY: AnyType)."""
    return Schema([ColSpec(AnyType() if kind == ANY else DataType[kind], name) for name, kind in inputs])


def requirements() -> list[str]:
    """What a serving environment needs to load this flavor: the versions this model was made with."""
    import tensorflow as tf

    return [f"mlflow=={mlflow.__version__}", f"tensorflow=={tf.__version__}", f"pandas=={pd.__version__}"]


def make_mlflow_model(
    model_dir: Path,
    inputs: Sequence[tuple[str, str]],
    input_example: pd.DataFrame | None,
    mlflow_model: Model | None = None,
    missing_values: Sequence[str] = (),
) -> Model:
    """Write MLflow's files into the SavedModel directory `model_dir`, which becomes the MLflow model.

    `missing_values` are the spec's missing spellings, which the pyfunc also reads as missing in a numeric
    column. The input example, when given, must be answered by the model: a model that cannot score it
    fails here. The SavedModel is loaded once, for its signature and the example.
    """
    model = RawRowsModel(str(model_dir), missing_values)
    mlflow_model = mlflow_model or Model()
    mlflow_model.add_flavor("tensorflow", saved_model_dir=".", model_type=TF2_MODULE, code=None)
    with tempfile.TemporaryDirectory(prefix="mlflow-model-") as scratch:
        files = Path(scratch) / "model"
        mlflow.pyfunc.save_model(
            path=str(files),
            loader_module=LOADER_MODULE,
            code_paths=[__file__],
            mlflow_model=mlflow_model,
            signature=signature(model, model_dir, inputs),
            input_example=input_example,
            pip_requirements=requirements(),
            model_config={MISSING_VALUES_CONFIG: list(missing_values)},
        )
        for path in files.iterdir():
            target = model_dir / path.name
            if target.is_dir():
                shutil.rmtree(target)  # a rerun into the same directory replaces an earlier attempt's files
            shutil.move(str(path), str(target))
    mlflow_model.model_size_bytes = sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file())
    mlflow_model.save(str(model_dir / "MLmodel"))
    if input_example is not None:
        model.predict(input_example)
    return mlflow_model


def save_model(
    path: str,
    mlflow_model: Model,
    saved_model_dir: Path,
    inputs: Sequence[tuple[str, str]],
    input_example: pd.DataFrame | None,
    missing_values: Sequence[str] = (),
    **_: Any,
) -> None:
    """The flavor entry point `Model.log` calls: makes `saved_model_dir` the MLflow model in place (so the
    pipeline's model artifact and the logged model hold the same files) and copies it to `path`."""
    make_mlflow_model(saved_model_dir, inputs, input_example, mlflow_model, missing_values)
    shutil.copytree(saved_model_dir, path)


def log_model(
    saved_model_dir: Path,
    inputs: Sequence[tuple[str, str]],
    input_example: pd.DataFrame | None,
    missing_values: Sequence[str] = (),
) -> ModelInfo:
    """Log the SavedModel directory as the active run's MLflow model "model"; it becomes that model in place."""
    import sys

    return Model.log(
        artifact_path=None,
        name="model",
        flavor=sys.modules[__name__],
        saved_model_dir=saved_model_dir,
        inputs=inputs,
        input_example=input_example,
        missing_values=missing_values,
        validate_serving_input=False,  # make_mlflow_model has scored the example itself
    )
