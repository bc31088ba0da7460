"""Compressed variants on a real tiny model of each task type (test_variants_support): raw rows in, the full
model's response schema out, the metric within the task's tolerance; the tolerance arithmetic; the kinds."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
from test_variants_support import Trained, eval_frame, trained_fixture  # noqa: F401

from components.evaluate.eval_rows import read_eval_columns
from components.evaluate.scoring import load_scorer
from components.tasks import task_of
from components.tasks.binary import BinaryTask
from components.tasks.regression import RegressionTask
from components.variants.base import VariantRefused
from components.variants.gate import pyfunc_scorer
from components.variants.kinds import parse_variants

# How far a distilled student (one layer of 32, a few epochs) may fall behind its tiny teacher here: it is
# gated by the task's tolerance like any variant, but on 100 eval rows one row moves accuracy by 0.01.
STUDENT_SLACK = {"binary": 0.05, "multiclass": 0.05, "regression": 0.10}


def test_parse_variants_names_kinds_once() -> None:
    assert [variant.name for variant in parse_variants("int8, float16,distilled")] == ["int8", "float16", "distilled"]
    assert parse_variants("") == []
    with pytest.raises(ValueError, match=r"unknown kind\(s\) \['int4'\]"):
        parse_variants("int8,int4")
    with pytest.raises(ValueError, match="named twice"):
        parse_variants("int8,int8")


def test_variant_check_is_absolute_for_auc_and_relative_for_rmse() -> None:
    binary, regression = BinaryTask(), RegressionTask(log_target=False)
    targets = np.array([0, 1, 0, 1, 1, 0])
    full = binary.metrics(targets, np.array([0.1, 0.9, 0.2, 0.8, 0.7, 0.3]))
    worse = binary.metrics(targets, np.array([0.1, 0.9, 0.75, 0.8, 0.7, 0.3]))  # one pair misordered
    assert binary.variant_check(full, full, 0.0).passed
    assert not binary.variant_check(worse, full).passed  # AUC 1.0 -> 0.944, beyond 0.005
    assert "full model 1.0000 - 0.005" in binary.variant_check(worse, full).line
    values = np.array([100.0, 200.0, 300.0])
    exact = regression.metrics(values, values + 10.0)  # RMSE 10
    within = regression.metrics(values, values + 10.09)  # +0.9 %
    beyond = regression.metrics(values, values + 10.2)  # +2 %
    assert regression.variant_check(within, exact).passed
    assert not regression.variant_check(beyond, exact).passed
    assert not regression.variant_check(within, exact, 0.0).passed


@pytest.fixture(scope="session")
def built(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Each kind built from the trained candidate: its folder, or the reason it was refused."""
    root = tmp_path_factory.mktemp(f"built-{trained.spec.name}")
    found: dict[str, Path | str] = {}
    for variant in parse_variants("float16,int8,int8_full,distilled"):
        try:
            found[variant.name] = variant.build(trained.candidate, root / variant.name)
        except VariantRefused as refused:
            found[variant.name] = str(refused)
    return found


@pytest.mark.slow  # the session's models: minutes per dataset (trained, then every kind built)
@pytest.mark.parametrize("kind", ["float16", "int8", "distilled"])
def test_variant_takes_raw_rows_and_answers_like_the_full_model(trained: Trained, built, kind: str) -> None:
    spec, task = trained.spec, task_of(trained.spec)
    assert isinstance(built[kind], Path), built[kind]
    frame = eval_frame(trained)
    full = mlflow.pyfunc.load_model(str(trained.candidate.export_dir)).predict(frame)
    answer = mlflow.pyfunc.load_model(str(built[kind])).predict(frame)
    assert list(answer.columns) == list(full.columns) == sorted(task.serving_output_names)
    assert len(answer) == len(frame)
    for name in answer.columns:
        assert np.asarray(answer[name].tolist()).shape == np.asarray(full[name].tolist()).shape
    dense = read_eval_columns(trained.eval_file, spec)
    targets = task.targets(spec.label.derive(dense))
    full_metrics = task.metrics(targets, load_scorer(trained.candidate.export_dir, task)(dense))
    ours = task.metrics(targets, pyfunc_scorer(built[kind], spec)(dense))
    tolerance = STUDENT_SLACK[task.kind] if kind == "distilled" else None
    check = task.variant_check(ours, full_metrics, tolerance)
    assert check.passed, check.line
    if kind != "distilled":  # a quantized model answers each row nearly as the full one does
        served = task.predictions({name: np.asarray(answer[name].tolist()) for name in answer.columns}, len(frame))
        reference = task.predictions({name: np.asarray(full[name].tolist()) for name in full.columns}, len(frame))
        scale = np.abs(reference).max() if task.kind == "regression" else 1.0
        assert np.abs(served - reference).max() <= 0.02 * scale


def lite_contents(path: Path) -> tuple[int, list[tuple[str, list[str]]]]:
    """The .tflite's constant bytes (weights, biases, tables) and each FULLY_CONNECTED op's input types
    (activations, weights, bias), read from the flatbuffer itself."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    types = {number: name for name, number in vars(schema.TensorType).items() if not name.startswith("_")}
    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    constant = sum(
        len(model.buffers[tensor.buffer].data)
        for tensor in graph.tensors
        if model.buffers[tensor.buffer].data is not None
    )
    dense = [
        [types[graph.tensors[index].type] for index in op.inputs if index >= 0]
        for op in graph.operators
        if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.FULLY_CONNECTED
    ]
    return constant, dense


@pytest.mark.slow
def test_full_integer_is_built_quantized_or_refused_with_the_reason(trained: Trained, built) -> None:
    """Full-integer int8 is calibrated on train rows: where it builds, every dense layer computes in int8 (weights
    and activations; dynamic-range int8 keeps float activations) and its weights take fewer bytes than float16's.
    The files' sizes are not compared: on a model this small the fixed overhead (the graph, quantization
    parameters) outweighs the weights (penguins: 14368 bytes int8_full against 14276 float16)."""
    outcome = built["int8_full"]
    if isinstance(outcome, str):
        assert outcome.startswith("int8_full: the TFLite converter refused the model: ")
        return
    weights, dense = lite_contents(outcome / "model.tflite")
    half_weights, _ = lite_contents(built["float16"] / "model.tflite")
    _, dynamic = lite_contents(built["int8"] / "model.tflite")
    assert dense and all(types == ["INT8", "INT8", "INT32"] for types in dense), dense
    assert not any(types[0] == "INT8" for types in dynamic), dynamic  # the check tells the two int8 kinds apart
    assert weights < half_weights
