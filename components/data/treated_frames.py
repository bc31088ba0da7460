"""Raw frames with the spec's sensitive columns treated, for what is written from them outside the graph.

The training baseline (components/data/baseline.py) profiles these, so its top values, quantiles and the
MLflow input example made from them hold no raw sensitive value: a Drop'd column is absent, a
Pseudonymize'd one holds tokens, a Generalize'd one the coarser values, a Keep'd one its values.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import pandas as pd

from components.common.specs.base import DatasetSpec, Drop, Keep
from components.common.specs.privacy_values import needs_key, pseudonymize_key, treat_value


def treated_frames(frames: Iterable[pd.DataFrame], spec: DatasetSpec) -> Iterator[pd.DataFrame]:
    """Each frame with its sensitive columns treated; the key (PSEUDONYMIZE_KEY) is read once, if needed."""
    sensitive = dict(spec.sensitive)
    if not sensitive:
        yield from frames
        return
    key = pseudonymize_key() if needs_key(sensitive) else None
    for frame in frames:
        frame = frame.drop(columns=[n for n in frame.columns if isinstance(sensitive.get(n), Drop)])
        for name in [n for n in frame.columns if n in sensitive and not isinstance(sensitive[n], Keep)]:
            values = [treat_value(sensitive[name], _python(value), key) for value in frame[name]]
            dtype = object if spec.column(name).dtype == "string" else "float64"  # a bin's edge, or None
            frame[name] = pd.Series(values, index=frame.index, dtype=dtype)
        yield frame


def _python(value: object) -> object:
    """A frame's value as treat_value takes it: None for missing, numbers as Python numbers."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value
