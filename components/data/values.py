"""What a raw value is, for every step: the spec's type, the missing spellings, no non-finite numbers.

One column at a time, as Arrow arrays: the texts of a CSV column (`parse_column`) or a Parquet column
already typed (`conform_column`) become an array of the spec's type (float -> float64, int -> int64,
string -> large_string), null where the value is missing. Every step reads raw values through here, so
`NA` in a numeric column, a literal `nan` or `inf` mean the same thing in validate, transform, evaluate,
serving and the drift check.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from components.common.specs.base import MISSING_VALUES, Binary, Column, DatasetSpec

DEFAULT_MISSING_VALUES = MISSING_VALUES
ARROW_TYPES: dict[str, pa.DataType] = {"float": pa.float64(), "int": pa.int64(), "string": pa.large_string()}
_INT64_LIMIT = 2.0**63
# The model reads a float column as float32 (transform's input): a number beyond this would be inf there.
FLOAT32_MAX = 3.4028234663852886e38

Where = Callable[[int], str]


class RawDataError(ValueError):
    """A raw value (or file) no step may read; the message names the file, line or row, column and what was expected."""


def missing_values(spec: DatasetSpec) -> frozenset[str]:
    """The texts read as missing: the spec's own spellings, by default DEFAULT_MISSING_VALUES."""
    return frozenset(spec.missing_values)


def never_missing(spec: DatasetSpec) -> frozenset[str]:
    """Columns in which a missing value is refused, not counted.

    A binary task's label columns (a missing label would silently be class 0), and every critical column
    whose spec allows no missing values (`max_null_fraction` 0), but a Drop'd one: the eval copy writes it
    empty (validate's null check still holds it to its spec).
    """
    label = set(spec.label.source_columns) if isinstance(spec.task, Binary) else set()
    dropped = {name for name, treatment in spec.sensitive.items() if treatment.kind == "drop"}
    strict = {
        c.name for c in spec.columns if c.max_null_fraction == 0 and c.severity == "critical" and c.name not in dropped
    }
    return frozenset(label | strict)


def parse_column(spec: DatasetSpec, name: str, texts: Sequence[str | None] | pa.Array, where: Where) -> pa.Array:
    """One column's raw texts (a sequence or an Arrow string array) as an Arrow array of the spec's type.

    `where(i)` names the file and line of texts[i].

    A missing spelling (numbers: after stripping spaces) is null; a text that is not the spec's type, a
    non-finite number (unless the column reads them as missing) or a null in a never-missing column
    raises RawDataError.
    """
    with _unquoted_if_sensitive(spec, name):
        return _parse_column(spec, spec.column(name), texts, where)


def _parse_column(spec: DatasetSpec, column: Column, texts: Sequence[str | None] | pa.Array, where: Where) -> pa.Array:
    raw = texts.cast(pa.large_string()) if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
    spellings = pa.array(sorted(missing_values(spec)), pa.large_string())
    if column.dtype != "string":
        raw = pc.utf8_trim_whitespace(raw)
    missing = pc.fill_null(pc.is_in(raw, value_set=spellings), True)
    present = pc.if_else(missing, pa.scalar(None, pa.large_string()), raw)
    if column.dtype == "string":
        array = present
    elif column.dtype == "float":
        array = _numbers(column, present, where)
    else:
        array = _whole_numbers(column, present, where)
    return _finish(spec, column, array, texts, where)


def accepts(column: Column, arrow_type: pa.DataType) -> bool:
    """Whether a typed (Parquet) column of `arrow_type` can hold the spec column's values."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_null(arrow_type):  # every value missing: pandas writes an all-null column so
        return True
    if column.dtype == "string":
        return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    # An int column written by pandas with nulls is float64; its values are checked whole below.
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def conform_column(spec: DatasetSpec, name: str, array: pa.Array, where: Where) -> pa.Array:
    """A typed column (one `accepts` allows) as the spec's type, by the same rules as `parse_column`.

    Strings: a missing spelling is null. Numbers: NaN is missing (pandas writes a missing float as NaN).
    """
    with _unquoted_if_sensitive(spec, name):
        return _conform_column(spec, spec.column(name), array, where)


def _conform_column(spec: DatasetSpec, column: Column, array: pa.Array, where: Where) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_null(array.type):
        array = array.cast(ARROW_TYPES[column.dtype])
    if column.dtype == "string":
        array = pc.cast(array, pa.large_string())
        spellings = pa.array(sorted(missing_values(spec)), pa.large_string())
        array = pc.if_else(pc.fill_null(pc.is_in(array, value_set=spellings), True), None, array)
        return _finish(spec, column, array, array, where)
    shown = array
    if pa.types.is_floating(array.type):
        array = pc.cast(array, pa.float64())
        array = pc.if_else(pc.fill_null(pc.is_nan(array), True), None, array)
    if column.dtype == "float":
        return _finish(spec, column, pc.cast(array, pa.float64()), shown, where)
    if pa.types.is_floating(array.type):
        array = _whole(column, array, shown, where)
    return _finish(spec, column, pc.cast(array, pa.int64()), shown, where)


def _numbers(column: Column, present: pa.Array, where: Where) -> pa.Array:
    try:
        return pc.cast(present, pa.float64())
    except pa.ArrowInvalid:
        _raise_first_unparsable(column, present, where, "a number (float)")
        raise


def _whole_numbers(column: Column, present: pa.Array, where: Where) -> pa.Array:
    """Integers; "3.0" reads as 3, "3.5" (or inf) is refused."""
    try:
        return pc.cast(present, pa.int64())
    except pa.ArrowInvalid:
        pass
    try:
        floats = pc.cast(present, pa.float64())
    except pa.ArrowInvalid:
        _raise_first_unparsable(column, present, where, "a whole number (int)")
        raise
    return pc.cast(_whole(column, floats, present, where), pa.int64())


def _whole(column: Column, floats: pa.Array, shown: pa.Array | Sequence[object], where: Where) -> pa.Array:
    fits = pc.and_(pc.equal(pc.floor(floats), floats), pc.less(pc.abs(floats), _INT64_LIMIT))
    bad = pc.invert(pc.fill_null(fits, True))
    if pc.any(bad).as_py():
        at = pc.index(bad, True).as_py()
        raise RawDataError(
            f"{where(at)}, column {column.name!r}: expected a whole number (int), got {_shown(shown, at)}"
        )
    return floats


def _raise_first_unparsable(column: Column, present: pa.Array, where: Where, expected: str) -> None:
    for at, text in enumerate(present.to_pylist()):
        if text is None:
            continue
        try:
            pc.cast(pa.scalar(text, pa.large_string()), pa.float64())
        except pa.ArrowInvalid:
            raise RawDataError(f"{where(at)}, column {column.name!r}: expected {expected}, got {text!r}") from None


def _finish(
    spec: DatasetSpec, column: Column, array: pa.Array, shown: pa.Array | Sequence[object], where: Where
) -> pa.Array:
    """Refuse (or, where the column says so, blank) non-finite numbers; refuse a null where none may be.

    A float beyond float32's range counts as non-finite: the model reads it as float32, where it is inf.
    """
    if column.dtype == "float":
        finite = pc.and_(pc.is_finite(array), pc.less_equal(pc.abs(array), FLOAT32_MAX))
        infinite = pc.invert(pc.fill_null(finite, True))
        if pc.any(infinite).as_py():
            if column.non_finite == "missing":
                array = pc.if_else(infinite, None, array)
            else:
                at = pc.index(infinite, True).as_py()
                beyond = f" (beyond float32's range, |x| <= {FLOAT32_MAX:.8g}, as the model reads it)"
                raise RawDataError(
                    f"{where(at)}, column {column.name!r}: expected a finite number, got {_shown(shown, at)}"
                    f"{beyond if pc.is_finite(array[at]).as_py() else ''} "
                    "(a column that reads non-finite numbers as missing declares non_finite='missing')"
                )
    if array.null_count and column.name in never_missing(spec):
        at = pc.index(pc.is_null(array), True).as_py()
        label = isinstance(spec.task, Binary) and column.name in spec.label.source_columns
        why = "a binary task's label" if label else "max_null_fraction is 0"
        raise RawDataError(
            f"{where(at)}, column {column.name!r}: expected a value ({why}), got {_shown(shown, at)}, read as missing"
        )
    return array


@contextmanager
def _unquoted_if_sensitive(spec: DatasetSpec, name: str) -> Iterator[None]:
    """A refusal quotes the value it refused, except a declared sensitive column's (spec.sensitive): that
    message goes to step logs, reports and scoring's rejects, where no raw sensitive value may be."""
    try:
        yield
    except RawDataError as error:
        if name not in spec.sensitive_columns:
            raise
        where, _, _ = str(error).partition(", got ")
        raise RawDataError(f"{where}, got a value not shown (a sensitive column)") from None


def _shown(values: pa.Array | Sequence[object], at: int) -> str:
    value = values[at]
    return repr(value.as_py() if isinstance(value, pa.Scalar) else value)
