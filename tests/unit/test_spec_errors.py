"""A spec that cannot be built is refused in one line naming its file, the field and what was expected.

Driven through the real command line (`python -m pipelines data` with DATASET set to a spec file), as a
user meets it: exit code 2, one line on stderr, no traceback. Optional fields have defaults, and the
deprecated GateThresholds still builds, saying in one line what replaced it.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.common.specs import SpecDeprecationWarning, SpecError, get_spec
from components.runs.settings import PROJECT_ROOT

# A spec as the README describes it: three columns of the bundled mlc_churn, no slice_columns, no thresholds.
SPEC_TEMPLATE = """\
from components.common.specs.base import (
    Categorical, Column, DatasetSpec, GateThresholds, Label, Numeric, SliceGate,
)


def churned(raw):
    import tensorflow as tf

    return tf.cast(tf.equal(raw["churn"], "yes"), tf.int64)


SPEC = DatasetSpec(
    name="churn_three",
    description="three columns of mlc_churn",
    columns=(
        Column("international_plan", "string"),
        Column("total_day_minutes", "float", min_value=0),
        Column("churn", "string", allowed_values=("yes", "no")),
    ),
    label=Label("churned", ("churn",), ("churn",), churned, 'churn == "yes"'),
    features=(Categorical("international_plan"), Numeric("total_day_minutes")),
    min_rows=100,
    bundled=("modeldata", "mlc_churn"),
    {extra}
)
"""
COLUMNS = "['international_plan', 'total_day_minutes', 'churn']"


def write_spec(folder: Path, extra: str = "", replace: tuple[str, str] = ("", "")) -> Path:
    path = folder / "churn_three.py"
    path.write_text(SPEC_TEMPLATE.format(extra=extra).replace(*replace))
    return path


def make_data(spec: Path, data: Path) -> subprocess.CompletedProcess[str]:
    """`make data` with DATASET naming the spec file: the command line a user runs."""
    env = {name: value for name, value in os.environ.items() if name not in ("DATASET", "DATA_URI")}
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "data"],
        cwd=PROJECT_ROOT,
        env={**env, "DATASET": str(spec), "DATA_URI": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_spec_without_slice_columns_or_thresholds_builds_and_its_data_is_written(tmp_path):
    spec_file = write_spec(tmp_path)
    done = make_data(spec_file, tmp_path / "data.csv")

    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    with (tmp_path / "data.csv").open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == ["international_plan", "total_day_minutes", "churn"] and len(rows) == 5_000
    spec = get_spec(str(spec_file))
    assert (spec.slice_columns, dict(spec.thresholds), spec.slice_gate) == ((), {}, None)


def test_gate_thresholds_still_builds_and_says_in_one_line_what_replaced_it(tmp_path):
    old = "thresholds=GateThresholds(min_roc_auc=0.6, min_accuracy=-1.0, max_log_loss=0.5),"
    spec_file = write_spec(tmp_path, old)
    done = make_data(spec_file, tmp_path / "data.csv")

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"spec {spec_file}: GateThresholds is deprecated and will be removed; "
        "write thresholds={'roc_auc': 0.6, 'log_loss': 0.5}"
    ]
    # The negative bound meant "off" and is left out; the others map to the thresholds mapping.
    again = tmp_path / "again"
    again.mkdir()
    with pytest.warns(SpecDeprecationWarning, match=r"write thresholds=\{'roc_auc': 0.6, 'log_loss': 0.5\}"):
        spec = get_spec(str(write_spec(again, old)))
    assert dict(spec.thresholds) == {"roc_auc": 0.6, "log_loss": 0.5}


@pytest.mark.parametrize(
    "change, field, expected",
    [
        (
            ("", "slice_colums=('churn',),"),
            "slice_colums",
            "not a field of DatasetSpec; expected one of ['name', 'description', 'columns', 'label', 'features', "
            "'min_rows', 'slice_columns', 'key_columns', 'thresholds',",
        ),
        (("min_rows=100", "min_rows='100'"), "min_rows", "expected an integer, got '100'"),
        (
            ('"total_day_minutes", "float"', '"total_day_minutes", "double"'),
            "Column('total_day_minutes').dtype",
            "expected one of 'float', 'int', 'string', got 'double'",
        ),
        (
            ('Numeric("total_day_minutes")', 'Numeric("total_day_minutes"), Numeric("fare")'),
            "features",
            f"Numeric reads 'fare', which names no column; expected one of the declared columns {COLUMNS}",
        ),
        (
            ("", "slice_columns=('plan',),"),
            "slice_columns",
            f"'plan' names no column; expected one of the declared columns {COLUMNS}",
        ),
        (
            ('    label=Label("churned", ("churn",), ("churn",), churned, \'churn == "yes"\'),\n', ""),
            "label",
            "missing",
        ),
        (
            ("", "slice_columns=('international_plan',), slice_gate=SliceGate(min_roc_auc=0.6),"),
            "SliceGate.min_roc_auc",
            "renamed; write bound (the task's headline metric: ROC AUC for a binary task)",
        ),
        (("GateThresholds, Label", "GateThreshold, Label"), "GateThreshold", "not in components.common.specs.base"),
        (("min_rows=100", "min_rows=rows"), "line 22", "NameError: name 'rows' is not defined"),
    ],
    ids=[
        "unknown field",
        "wrong type",
        "wrong type inside",
        "feature naming no column",
        "slice column naming none",
        "missing field",
        "renamed field",
        "name gone",
        "any other error",
    ],
)
def test_a_spec_that_cannot_be_built_is_refused_in_one_line(tmp_path, change, field, expected):
    old, new = change
    spec_file = write_spec(tmp_path, new) if not old else write_spec(tmp_path, replace=change)
    done = make_data(spec_file, tmp_path / "data.csv")

    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"spec {spec_file}: {field}: {expected}"), line
    assert not (tmp_path / "data.csv").exists()
    with pytest.raises(SpecError) as refused:
        get_spec(str(spec_file))
    assert (refused.value.field, str(refused.value)) == (field, line)
