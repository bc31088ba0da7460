"""The spec of the one-reader property test: a column of each kind of reading rule.

Its own module, so that the drift check finds it by path (`get_spec`) as a baseline's dataset.
"""

from __future__ import annotations

from components.common.specs.base import Binary, Categorical, Column, DatasetSpec, Label, Numeric

SPEC = DatasetSpec(
    name="one_reader_property",
    description="a nullable float, a float reading non-finite numbers as missing, a nullable int, text, a label",
    columns=(
        Column("fare", "float", max_null_fraction=1.0),
        Column("ratio", "float", max_null_fraction=1.0, non_finite="missing"),
        Column("hour", "int", max_null_fraction=1.0),
        Column("note", "string", max_null_fraction=1.0),
        Column("paid", "int", allowed_values=("0", "1")),
    ),
    label=Label("paid", ("paid",), ("paid",), derive=lambda raw: raw["paid"], description="paid"),
    features=(Numeric("fare"), Numeric("ratio"), Numeric("hour"), Categorical("note")),
    min_rows=1,
    task=Binary(),
)
