"""The MLflow model's input example: rows of the training data, as a client would send them.

A sensitive column's value is its treated one, as the baseline holds it (a token, a generalised value).

Made at train time from the baseline validate saved on the pipeline's run (components/data/baseline.py);
MLflow keeps it beside the model as the request body `make serve` prints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from components.data.images import blank_image, image_features
from components.data.values import never_missing
from components.train.mlflow_model import spec_inputs, typed_frame

if TYPE_CHECKING:
    from components.common.specs.base import DatasetSpec
    from components.data.baseline import Baseline

EXAMPLE_QUANTILES = (0.25, 0.5, 0.75)


def example_rows(spec: DatasetSpec, baseline: Baseline | None) -> pd.DataFrame | None:
    """Raw rows for the model's input example: values of the training data, and one with missing values.

    Row i takes each numeric column's `EXAMPLE_QUANTILES[i]` quantile and each coded column's (i+1)-th
    most frequent value, from the training data's baseline (none when every column is free text); the
    last row is the middle one with every column that may be missing left missing. Without a baseline
    only that row can be given, and only when every column may be missing; None when no row can be
    given (the model refuses a never-missing column without a value).
    """
    inputs = spec_inputs(spec)
    images = {name: blank_image(feature) for name, feature in image_features(spec).items()}
    optional = {name for name, _ in inputs} - never_missing(spec)
    rows: list[dict[str, Any]] = []
    if baseline is not None:
        for rank, quantile in enumerate(EXAMPLE_QUANTILES):
            row = {
                name: images[name]
                if name in images
                else _typical(baseline.column(name), spec.column(name).dtype, rank, quantile)
                for name, _ in inputs
            }
            given = [name for name in row if row[name] is not None]
            if given and set(row) - optional <= set(given):
                rows.append(row)
    if optional and (rows or len(optional) == len(inputs)):
        middle = rows[len(rows) // 2] if rows else {}
        rows.append({name: None if name in optional else middle[name] for name, _ in inputs})
    if not rows:
        return None
    return typed_frame(pd.DataFrame(rows, columns=[name for name, _ in inputs]), spec)


def _typical(column: Any, dtype: str, rank: int, quantile: float) -> Any:
    """A value the training data holds: the quantile of a numeric profile, else a frequent category.

    A free text's profile counts its words, not its values: its example is left missing.
    """
    if column.kind == "text":
        return None
    if column.numeric is not None:
        value = next(point for point, share in zip(column.numeric.points, column.numeric.cdf) if share >= quantile)
    else:
        ranked = sorted(column.categories or {}, key=lambda value: -column.categories[value])
        if not ranked:
            return None
        value = ranked[min(rank, len(ranked) - 1)]
    return value if dtype == "string" else round(float(value)) if dtype == "int" else float(value)


def training_baseline(tracking_uri: str, pipeline_run_id: str) -> Baseline | None:
    """The baseline validate saved on the pipeline's run; None when that run has none (no validate step)."""
    from components.common import tracking
    from components.data.baseline import BASELINE_ARTIFACT, Baseline

    client = tracking.client(tracking_uri)
    if BASELINE_ARTIFACT not in {item.path for item in client.list_artifacts(pipeline_run_id)}:
        return None
    with tempfile.TemporaryDirectory(prefix="baseline-") as scratch:
        text = Path(client.download_artifacts(pipeline_run_id, BASELINE_ARTIFACT, scratch)).read_text(encoding="utf-8")
    return Baseline.from_json(text, f"pipeline run {pipeline_run_id}: {BASELINE_ARTIFACT}")
