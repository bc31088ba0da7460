"""Declared treatments of personal data (issue 25): the spec's checks, the key, the graph's treatments against
the Python ones, and one real tf.Transform run whose outputs hold no raw sensitive value while serving a raw
row gives what training gave."""

from __future__ import annotations

import csv
import gzip
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common.specs.base import (
    Categorical,
    Column,
    DatasetSpec,
    Drop,
    Generalize,
    Keep,
    Label,
    Numeric,
    Pseudonymize,
    SpecError,
)
from components.common.specs.privacy_values import (
    MissingKeyError,
    pseudonym,
    pseudonymize_key,
    token_text,
    treat_row,
    treat_value,
)
from components.data.raw_tensors import raw_feature_spec
from components.transform.features import make_preprocessing_fn
from components.transform.layout import EVAL
from components.transform.roles.treatments import treat_inputs
from components.transform.task import run_transform
from components.transform.treated_rows import EvalTreatment

KEY = {"PSEUDONYMIZE_KEY": "correct horse battery staple"}
OTHER_KEY = {"PSEUDONYMIZE_KEY": "another secret of enough length"}


def yes(raw):
    return tf.cast(tf.equal(raw["left"], "yes"), tf.int64)


def _spec(sensitive=None, features=None, **more) -> DatasetSpec:
    return DatasetSpec(
        name="people",
        description="customers with personal columns",
        columns=(
            Column("email", "string"),
            Column("born", "string"),
            Column("postcode", "string"),
            Column("age", "int", min_value=0, max_value=120),
            Column("ssn", "string"),
            Column("spend", "float", min_value=0),
            Column("left", "string", allowed_values=("yes", "no")),
        ),
        label=Label("left_label", ("left",), ("left",), yes, 'left == "yes"'),
        features=features
        or (Categorical("email"), Categorical("born"), Categorical("postcode"), Numeric("age"), Numeric("spend")),
        sensitive={
            "email": Pseudonymize(buckets=32),
            "born": Generalize(to="month"),
            "postcode": Generalize(prefix=3),
            "age": Generalize(bins=(0, 30, 50, 70)),
            "ssn": Drop(),
        }
        if sensitive is None
        else sensitive,
        min_rows=10,
        **more,
    )


SPEC = _spec()


def _rows(count: int = 80) -> list[list[str]]:
    return [
        [
            f"person{n}@mail.example",
            f"19{50 + n % 40}-{1 + n % 12:02d}-{1 + n % 27:02d}",
            f"{90000 + 37 * n}",
            str(18 + n % 60),
            f"{100 + n:03d}-{10 + n % 80:02d}-{1000 + n:04d}",
            f"{n * 1.5:.1f}",
            "yes" if n % 3 == 0 else "no",
        ]
        for n in range(count)
    ]


def _sparse(values: list, dtype: tf.DType) -> tf.SparseTensor:
    return tf.SparseTensor([[i, 0] for i in range(len(values))], tf.constant(values, dtype), [len(values), 1])


def _graph(column: str, values: list, dtype: tf.DType, environ: dict[str, str]) -> list:
    treated = treat_inputs(SPEC.sensitive, {column: _sparse(values, dtype)}, pseudonymize_key(environ))[column]
    return [v.decode() if isinstance(v, bytes) else v.item() for v in treated.values.numpy()]


def test_same_key_same_token_across_runs_another_key_another_token():
    emails = ["ada@mail.example", "bob@mail.example", "eve@mail.example", "sam@mail.example"]
    first, again = _graph("email", emails, tf.string, KEY), _graph("email", emails, tf.string, dict(KEY))
    other = _graph("email", emails, tf.string, OTHER_KEY)
    assert first == again
    assert first != other
    # Outside the graph (an input example, a baseline) the same value gives the same bucket.
    assert first == [pseudonym(email, 32, pseudonymize_key(KEY)) for email in emails]
    assert treat_value(Pseudonymize(buckets=32), emails[0], pseudonymize_key(KEY)) == token_text(first[0])


def test_graph_treatments_equal_the_python_ones_and_a_treated_value_stays_itself():
    key = pseudonymize_key(KEY)
    cases = [
        ("email", ["x@y.example", token_text(5)], tf.string),
        ("born", ["1987-04-30", "1987-04", "1987-04-30T10:00:00"], tf.string),
        ("postcode", ["90210", "SW1A 1AA", "902"], tf.string),
        ("age", [17, 30, 49, 88, 0], tf.int64),
    ]
    for column, values, dtype in cases:
        graph = _graph(column, values, dtype, KEY)
        python = [treat_value(SPEC.sensitive[column], value, key) for value in values]
        if column == "email":
            python = [int(token.removeprefix("pseudonym-")) for token in python]
        assert graph == python, column
        if column != "email":  # a bucket id is not fed back; its token is (below)
            assert _graph(column, graph, tf.float32 if column == "age" else dtype, KEY) == graph, column
    # A token in the eval copy keeps its bucket in the graph: evaluate scores it as the raw value.
    bucket = pseudonym("x@y.example", 32, key)
    assert _graph("email", [token_text(bucket)], tf.string, KEY) == [bucket]
    # Text that is no ISO date is not guessed at: it becomes missing.
    assert _graph("born", ["30/04/1987", "1987-04-30"], tf.string, KEY) == ["1987-04"]
    assert treat_value(SPEC.sensitive["born"], "30/04/1987") is None


def test_treat_row_removes_dropped_columns_and_treats_the_rest():
    row = dict(zip(SPEC.column_names, _rows(1)[0]))
    treated = treat_row(SPEC.sensitive, row, pseudonymize_key(KEY))
    assert "ssn" not in treated and treated["born"] == "1950-01" and treated["postcode"] == "900"
    assert treated["email"].startswith("pseudonym-") and treated["spend"] == row["spend"]


@pytest.mark.parametrize("environ", [{}, {"PSEUDONYMIZE_KEY": "short"}])
def test_a_missing_or_short_key_is_refused_naming_the_variable(environ, monkeypatch):
    monkeypatch.delenv("PSEUDONYMIZE_KEY", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    for build in (make_preprocessing_fn, EvalTreatment):
        with pytest.raises(MissingKeyError, match="PSEUDONYMIZE_KEY"):
            build(SPEC)
    # A spec that pseudonymises nothing needs no key.
    make_preprocessing_fn(_spec(sensitive={"ssn": Drop()}))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sensitive": {"mail": Drop()}}, "sensitive: 'mail' names no column"),
        ({"sensitive": {"ssn": Drop()}, "features": (Categorical("ssn"),)}, "Drop'd column is read by Categorical"),
        ({"sensitive": {"email": Pseudonymize()}, "features": (Numeric("spend"),), "key_columns": ("email",)}, "key"),
        ({"sensitive": {"email": Drop()}, "features": (Numeric("spend"),), "slice_columns": ("email",)}, "slice"),
        ({"sensitive": {"age": Pseudonymize()}, "features": (Numeric("spend"),)}, "takes a string column"),
        ({"sensitive": {"age": Generalize(prefix=2)}, "features": (Numeric("spend"),)}, "generalised by bins"),
        ({"sensitive": {"age": Generalize(bins=(0, 17.5))}, "features": (Numeric("spend"),)}, "whole numbers"),
        ({"sensitive": {"born": Generalize(to="month")}, "features": (Numeric("born"),)}, "Categorical or Text"),
    ],
)
def test_the_spec_refuses_a_treatment_that_does_not_fit(change, expected):
    with pytest.raises(SpecError, match=expected):
        _spec(**change)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: Keep(reason=" "), "Keep.reason"),
        (lambda: Generalize(), "exactly one of to, bins, prefix"),
        (lambda: Generalize(to="month", prefix=3), "exactly one"),
        (lambda: Generalize(bins=(5, 1)), "ascending"),
        (lambda: Pseudonymize(buckets=1), "at least 2"),
        (lambda: Generalize(to="week"), "Generalize.to"),
    ],
)
def test_treatments_refuse_bad_arguments(build, expected):
    with pytest.raises(SpecError, match=expected):
        build()


# --- one real tf.Transform run ---------------------------------------------------------------


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    data = root / "raw.csv"
    rows = _rows()
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows([SPEC.column_names, *rows])
    before = os.environ.get("PSEUDONYMIZE_KEY")
    os.environ.update(KEY)
    try:
        run_transform(str(data), SPEC, root / "graph", root / "examples", root / "out" / "eval.csv")
    finally:
        os.environ.pop("PSEUDONYMIZE_KEY")
        if before is not None:
            os.environ["PSEUDONYMIZE_KEY"] = before
    return root, rows


def _sensitive_raw_values(rows: list[list[str]]) -> set[bytes]:
    positions = [SPEC.column_names.index(name) for name in ("email", "born", "postcode", "ssn")]
    return {row[i].encode() for row in rows for i in positions}


@pytest.mark.slow
def test_transform_writes_no_raw_sensitive_value(transformed):
    root, rows = transformed
    planted = _sensitive_raw_values(rows)
    files = [path for path in root.rglob("*") if path.is_file() and path.name != "raw.csv"]
    assert any("assets" in path.parts for path in files), "the graph's vocabularies are searched too"
    for path in files:
        content = path.read_bytes()
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        found = [value for value in planted if value in content]
        assert not found, f"{path} holds raw sensitive values, e.g. {found[:2]}"
    header, *eval_rows = list(csv.reader((root / "out" / "eval.csv").open()))
    assert header == SPEC.column_names and eval_rows
    assert all(row[header.index("ssn")] == "" for row in eval_rows)  # Drop'd: no value past validate
    assert all(row[header.index("email")].startswith("pseudonym-") for row in eval_rows)


def _serve(tft_output: tft.TFTransformOutput, rows: list[list[str]]) -> dict[str, np.ndarray]:
    raw = {}
    for name in SPEC.transform_input_columns:
        at, dtype = SPEC.column_names.index(name), SPEC.column(name).dtype
        values = [row[at] for row in rows]
        typed = {"string": str, "int": lambda v: int(float(v)), "float": float}[dtype]
        raw[name] = _sparse(
            [typed(v) for v in values], {"string": tf.string, "int": tf.int64, "float": tf.float32}[dtype]
        )
    return {name: value.numpy() for name, value in tft_output.transform_raw_features(raw).items()}


@pytest.mark.slow
def test_serving_a_raw_row_and_its_eval_copy_give_what_training_gave(transformed):
    root, rows = transformed
    tft_output = tft.TFTransformOutput(str(root / "graph"))
    # Drop'd: never read past validate, so not in the graph's input nor the serving signature's.
    assert "ssn" not in raw_feature_spec(SPEC) and "ssn" not in SPEC.feature_columns
    files = sorted(str(p) for p in (root / "examples").glob(f"{EVAL}-*"))
    examples = tf.io.parse_example(
        list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()),
        tft_output.transformed_feature_spec(),
    )
    trained = {name: value.numpy() for name, value in examples.items()}
    treated = list(csv.reader((root / "out" / "eval.csv").open()))[1:]
    by_spend = {row[SPEC.column_names.index("spend")]: row for row in rows}
    raw = [by_spend[row[SPEC.column_names.index("spend")]] for row in treated]
    served_raw, served_treated = _serve(tft_output, raw), _serve(tft_output, treated)
    order = np.argsort(trained["spend_z"], kind="stable")
    for name in ("email_id", "born_id", "postcode_id", "age_z"):
        served_order = np.argsort(served_raw["spend_z"], kind="stable")
        np.testing.assert_allclose(served_raw[name][served_order], trained[name][order], rtol=1e-6)
        np.testing.assert_allclose(served_treated[name][served_order], trained[name][order], rtol=1e-6)
