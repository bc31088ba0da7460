"""The rows to score: read by the one reader, each refused row named with its reason, the rest staged.

A scoring input is read like training data (components/data/reader.py: any file, folder, glob or span
pattern; a value no step may read refuses the file, naming it), with one difference: a feature or key
column the spec never allows missing is read with its gaps, so that a row lacking it is set aside as a
reject with its reason instead of refusing every row. A row is refused, per critical column the model
or the output reads, for a missing value where none may be, a number outside [min_value, max_value]
when the spec allows none outside (range_mostly 1), or a value outside allowed_values when the spec
allows no other (allowed_mostly 1). An image column stays the images' references, made absolute (so the
output names each image as its input did); a row whose image cannot be read or is not what the spec's
`Image` takes (validation's rule, components/validate/images.py) is refused with the reason. The accepted
rows are staged as Parquet parts, each row carrying its number in the input (ROW_NUMBER, from 0 across
every file) so the output can name it; the scoring step reads the images' bytes when it predicts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import pandas as pd

from components.common.specs.base import DatasetSpec, Image
from components.data.images import DATA_URI, absolute_references, image_features, read_image_bytes
from components.data.raw_batch import RawBatch
from components.data.reader import empty_frame, file_columns, read_batches, to_frame
from components.data.sources import DataSource
from components.data.values import never_missing
from components.validate.images import image_problem

ROW_NUMBER = "row_number"
REASON = "reason"


class ScoringInputError(ValueError):
    """The input cannot be scored at all: a column the model or the output needs is absent."""


@dataclass
class StagedInput:
    """What reading the input found: the columns held, whether the label came, the rows seen and refused."""

    columns: list[str]
    has_label: bool
    parts: list[Path]
    rows_read: int = 0
    rejects: list[pd.DataFrame] | None = None

    @property
    def rows_rejected(self) -> int:
        return sum(len(frame) for frame in self.rejects or [])


def checked_columns(spec: DatasetSpec) -> list[str]:
    """The columns a scored row needs: the features' and the keys', in file order."""
    needed = set(spec.feature_columns) | set(spec.key_columns)
    return [name for name in spec.column_names if name in needed]


def reading_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec with the never-missing feature and key columns read with their gaps (rejected per row)."""
    relaxed = never_missing(spec) & set(checked_columns(spec))
    columns = tuple(replace(c, max_null_fraction=1.0) if c.name in relaxed else c for c in spec.columns)
    return replace(spec, columns=columns)


def reject_reasons(frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """Per row, every reason the spec refuses it ("; "-joined); "" for a row it accepts."""
    reasons = pd.Series("", index=frame.index, dtype=object)
    strict = never_missing(spec)

    def add(mask: pd.Series, messages: pd.Series | str) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            text = messages[mask] if isinstance(messages, pd.Series) else messages
            reasons[mask] = (reasons[mask] + "; " + text).str.lstrip("; ")

    for name in checked_columns(spec):
        column, values = spec.column(name), frame[name]
        if name in strict:
            add(values.isna(), f"column {name!r}: missing, and the spec allows no missing value")
        if column.severity != "critical":
            continue
        shown = values.astype(str)
        if column.range_mostly == 1.0 and (column.min_value is not None or column.max_value is not None):
            low = column.min_value if column.min_value is not None else float("-inf")
            high = column.max_value if column.max_value is not None else float("inf")
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            outside = values.notna() & ((numbers < low) | (numbers > high))
            add(outside, f"column {name!r}: " + shown + f" is outside [{column.min_value}, {column.max_value}]")
        if column.allowed_values is not None and column.allowed_mostly == 1.0:
            unknown = values.notna() & ~values.astype(str).isin(column.allowed_values)
            add(unknown, f"column {name!r}: " + shown + " is not one of the allowed values")
    return reasons


def image_reasons(frame: pd.DataFrame, spec: DatasetSpec, endpoint_url: str = "") -> pd.Series:
    """Per row, why its images (absolute references) cannot be scored ("; "-joined); "" when they can."""
    reasons = pd.Series("", index=frame.index, dtype=object)
    for name, feature in image_features(spec).items():
        if name not in frame.columns:
            continue
        for at, reference in frame[name].items():
            problem = None if reference is None else _image_problem(reference, feature, endpoint_url)
            if problem is not None:
                shown = f"(a data: URI of {len(reference)} characters)" if reference.startswith(DATA_URI) else reference
                reasons[at] = "; ".join(filter(None, [reasons[at], f"column {name!r}: image {shown} {problem}"]))
    return reasons


def _image_problem(reference: str, feature: Image, endpoint_url: str) -> str | None:
    try:
        data = read_image_bytes(reference, endpoint_url)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    return image_problem(data, feature)


def _references_frame(batch: RawBatch, spec: DatasetSpec) -> pd.DataFrame:
    return to_frame(RawBatch(batch.file, batch.first_line, absolute_references(spec, batch.table, batch.file.uri)))


def stage_input(
    source: DataSource, spec: DatasetSpec, staging: Path, batch_rows: int
) -> tuple[StagedInput, Iterator[pd.DataFrame]]:
    """What the input holds, and its accepted rows as frames (for the suite), staged as Parquet as they pass.

    The frames must be consumed for `parts`, `rows_read` and `rejects` to be filled.
    """
    held = file_columns(source.files[0], spec, source.endpoint_url)
    absent = [name for name in checked_columns(spec) if name not in held]
    if absent:
        raise ScoringInputError(
            f"{source.data_uri}: column(s) {absent} are missing; the model's features and the spec's key_columns "
            f"{list(spec.key_columns)} must all be present"
        )
    columns = [name for name in spec.column_names if name in held]
    label_columns = set(spec.label.source_columns)
    staged = StagedInput(columns, has_label=label_columns <= set(held), parts=[], rejects=[])
    staging.mkdir(parents=True, exist_ok=True)

    def frames() -> Iterator[pd.DataFrame]:
        read = read_batches(source, reading_spec(spec), columns, batch_rows=batch_rows, image_bytes=False)
        for batch in read:
            frame = _references_frame(batch, spec)
            frame.index = pd.RangeIndex(staged.rows_read, staged.rows_read + len(frame))
            staged.rows_read += len(frame)
            pairs = zip(reject_reasons(frame, spec), image_reasons(frame, spec, source.endpoint_url))
            reasons = pd.Series(["; ".join(filter(None, pair)) for pair in pairs], index=frame.index, dtype=object)
            refused = reasons != ""
            rejected = frame.loc[refused, list(spec.key_columns)].assign(**{REASON: reasons[refused]})
            staged.rejects.append(rejected.rename_axis(ROW_NUMBER).reset_index())
            accepted = frame.loc[~refused]
            if len(accepted):
                part = staging / f"input-{len(staged.parts):05d}.parquet"
                accepted.rename_axis(ROW_NUMBER).reset_index().to_parquet(part, index=False)
                staged.parts.append(part)
            yield accepted.reset_index(drop=True)
        if not staged.rows_read:
            yield empty_frame(spec, columns)

    return staged, frames()
