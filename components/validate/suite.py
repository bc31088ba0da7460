"""The Great Expectations suite built from a dataset spec, and running it batch by batch.

Each batch is validated in a throwaway in-memory GX context; the results are merged per expectation so
that counts add up across batches and each `mostly` is judged on the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig

from components.common.specs.base import DatasetSpec, RawType

# Dtypes the GX type expectation accepts. A float column whose values are all whole
# numbers is read as int64. String columns are read as `object` (see read_raw_csv),
# for which GX checks each non-null value's Python type.
TYPE_LISTS: dict[RawType, list[str]] = {
    "float": ["float64", "int64"],
    "int": ["int64", "Int64Dtype"],
    "string": ["str"],
}


def build_suite(spec: DatasetSpec, without_label: bool = False) -> gx.ExpectationSuite:
    """The spec's expectations, each with the GX severity of its column.

    `without_label` (batch scoring, components/score): none on the label's columns that feed no feature, and
    no row-count floor, since rows to score come with or without their label and in batches of any size.
    """
    left_out = set(spec.label.source_columns) - set(spec.feature_columns) if without_label else set()
    expectations: list[gxe.Expectation] = []
    if not without_label or spec.max_rows is not None:
        floor = None if without_label else spec.min_rows
        expectations.append(gxe.ExpectTableRowCountToBeBetween(min_value=floor, max_value=spec.max_rows))
    for column in (column for column in spec.columns if column.name not in left_out):
        common: dict[str, Any] = {"column": column.name, "severity": column.severity}
        expectations.append(gxe.ExpectColumnToExist(**common))
        expectations.append(gxe.ExpectColumnValuesToBeInTypeList(type_list=TYPE_LISTS[column.dtype], **common))
        if column.max_null_fraction < 1.0:
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(mostly=1.0 - column.max_null_fraction, **common))
        if column.min_value is not None or column.max_value is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    min_value=column.min_value, max_value=column.max_value, mostly=column.range_mostly, **common
                )
            )
        if column.allowed_values is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    value_set=list(column.allowed_values), mostly=column.allowed_mostly, **common
                )
            )
    return gx.ExpectationSuite(name=f"{spec.name}_raw", expectations=expectations)


@dataclass(frozen=True)
class SuiteRun:
    """The suite's results over every batch of a file, in suite order, and what the batches held."""

    results: list[ExpectationValidationResult]
    row_count: int
    columns: list[str]


def run_suite(frame: pd.DataFrame, suite: gx.ExpectationSuite) -> list[ExpectationValidationResult]:
    """Run the suite on one frame; results in suite order."""
    return run_suite_on_chunks([frame], suite).results


def run_suite_on_chunks(frames: Iterable[pd.DataFrame], suite: gx.ExpectationSuite) -> SuiteRun:
    """Run the suite on each frame in a throwaway in-memory GX context and merge the results per expectation.

    One frame gives GX's results unchanged; see `_merge` for several.
    """
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset("raw_csv")
        .add_batch_definition_whole_dataframe("whole_file")
    )
    saved = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=batch, suite=saved))
    per_expectation: dict[str | None, list[ExpectationValidationResult]] = {}
    row_count, columns = 0, []
    for frame in frames:
        row_count += len(frame)
        columns = columns or [str(name) for name in frame.columns]
        result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
        for item in result.results:
            per_expectation.setdefault(item.expectation_config.id, []).append(item)
    # GX groups results by metric; the report reads better in the spec's column order.
    results = [_merge(per_expectation[expectation.id], row_count) for expectation in saved.expectations]
    return SuiteRun(results, row_count, columns)


def _merge(results: list[ExpectationValidationResult], row_count: int) -> ExpectationValidationResult:
    """One result for the whole file from one result per batch.

    The row count is the file's. Per-row expectations add up their counts and judge
    `mostly` on the totals. Others (a column present, its dtype, an evaluation error)
    take the first batch that failed, if any.
    """
    if len(results) == 1:
        return results[0]
    first = results[0]
    config = first.expectation_config
    if config.type == "expect_table_row_count_to_be_between":
        low, high = config.kwargs.get("min_value"), config.kwargs.get("max_value")
        success = (low is None or row_count >= low) and (high is None or row_count <= high)
        return ExpectationValidationResult(
            success=success, expectation_config=config, result={"observed_value": row_count}
        )
    if not all("element_count" in (item.result or {}) for item in results):
        return next((item for item in results if not item.success), first)
    merged: dict[str, Any] = {
        key: sum(item.result.get(key, 0) for item in results)
        for key in ("element_count", "unexpected_count", "missing_count")
        if key in first.result
    }
    # Null checks count every row; the other per-row expectations count the non-null ones.
    considered = merged["element_count"] - merged.get("missing_count", 0)
    unexpected = merged["unexpected_count"]
    merged["unexpected_percent"] = 100 * unexpected / considered if considered else 0.0
    merged["partial_unexpected_list"] = [v for item in results for v in item.result["partial_unexpected_list"]][:20]
    mostly = config.kwargs.get("mostly") or 1.0
    success = considered == 0 or (considered - unexpected) / considered >= mostly
    return ExpectationValidationResult(success=success, expectation_config=config, result=merged)
