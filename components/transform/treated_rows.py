"""The eval copy's rows with every sensitive column treated: what evaluate and infra-validate read.

Transform writes the eval split's raw rows for the steps after it; a sensitive column's values are written
treated (`privacy_values`, the same result as the graph's treatment, which passes a treated value through
unchanged, so the served model scores an eval row as it scores the raw one) and a Drop'd column's empty.
"""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from components.common.specs.base import DatasetSpec, Drop
from components.common.specs.privacy_values import as_text, needs_key, pseudonymize_key, treat_value


class EvalTreatment:
    """Treats one eval row's fields (CSV text, the spec's column order) or a batch of typed rows (Parquet)."""

    def __init__(self, spec: DatasetSpec) -> None:
        self._sensitive = dict(spec.sensitive)
        self._missing = frozenset(spec.missing_values)
        self._positions = [(i, c.name, c.dtype) for i, c in enumerate(spec.columns) if c.name in self._sensitive]
        self._key = pseudonymize_key() if needs_key(self._sensitive) else None

    def fields(self, fields: Sequence[str]) -> list[str]:
        treated = list(fields)
        for position, name, dtype in self._positions:
            text = fields[position]
            if text in self._missing or (dtype != "string" and not text.strip()):
                continue
            raw: object = text if dtype == "string" else float(text)
            treated[position] = _written(treat_value(self._sensitive[name], raw, self._key), dtype)
        return treated

    def batch(self, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
        for _, name, dtype in self._positions:
            at = batch.schema.get_field_index(name)
            treatment = self._sensitive[name]
            values = [
                None if isinstance(treatment, Drop) else _typed(treat_value(treatment, value, self._key), dtype)
                for value in batch.column(at).to_pylist()
            ]
            batch = batch.set_column(at, batch.schema.field(at), pa.array(values, type=batch.schema.field(at).type))
        return batch


def _typed(value: object, dtype: str) -> object:
    if value is None or dtype == "string":
        return value
    return int(value) if dtype == "int" else float(value)  # type: ignore[arg-type]


def _written(value: object, dtype: str) -> str:
    """A treated value as a CSV field: missing is empty, an int column's edge a whole number."""
    if value is None:
        return ""
    if dtype == "int":
        return str(int(value))  # type: ignore[call-overload]
    return as_text(value)
