"""Validate the raw CSV against its dataset spec with a Great Expectations suite.

The file's bytes are checked first (empty, not UTF-8, rows with the wrong number
of fields), because pandas would otherwise fail with a parser error or quietly
read a broken file. The frame then goes through a GX suite built from the spec.
The HTML report and JSON summary are always written, failure or not; critical
failures raise `DataValidationError`, warnings are only reported.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import mlflow
import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig

from components.common import tracking
from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec, RawType
from components.validate.report import ExpectationOutcome, ValidationSummary, outcome_of, write_outputs

logger = logging.getLogger(__name__)

# Dtypes the GX type expectation accepts. A float column whose values are all whole
# numbers is read as int64. String columns are read as `object` (see read_raw_csv),
# for which GX checks each non-null value's Python type.
TYPE_LISTS: dict[RawType, list[str]] = {
    "float": ["float64", "int64"],
    "int": ["int64", "Int64Dtype"],
    "string": ["str"],
}


class DataValidationError(ValueError):
    """The raw data cannot be used: unreadable, or a critical expectation failed."""

    def __init__(self, message: str, summary: ValidationSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


def read_raw_csv(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """Read the raw CSV after checking its bytes; raises DataValidationError naming the file and line."""
    text = _decode(path, spec)
    _check_field_counts(path, text)
    string_columns = {column.name: object for column in spec.columns if column.dtype == "string"}
    # Numeric columns are not given a dtype: a stray word makes pandas read the column
    # as text, which the type expectation then reports instead of a parser error.
    frame = pd.read_csv(io.StringIO(text), dtype=string_columns)
    _restore_integer_columns(frame, spec)
    extra = [name for name in frame.columns if name not in spec.column_names]
    if extra:
        logger.warning("%s: columns not in spec %s: %s", path, spec.name, extra)
    return frame


def _decode(path: Path, spec: DatasetSpec) -> str:
    data = path.read_bytes()
    try:
        # Not "utf-8-sig": its error offsets would not count the byte-order mark.
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataValidationError(
            f"{path}: line {line}, byte offset {error.start}: not valid UTF-8 ({error.reason})"
        ) from None
    if not text.strip():
        raise DataValidationError(f"{path}: the file is empty; expected a header line: {','.join(spec.column_names)}")
    return text


def _check_field_counts(path: Path, text: str) -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(row for row in reader if row)
        for row in reader:
            if row and len(row) != len(header):
                raise DataValidationError(
                    f"{path}: line {reader.line_num}: found {len(row)} fields, expected "
                    f"{len(header)} as in the header (truncated or malformed row)"
                )
    except csv.Error as error:
        raise DataValidationError(f"{path}: line {reader.line_num}: {error}") from None


def _restore_integer_columns(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    """pandas reads an integer column with nulls as float64; give it a nullable integer dtype.

    Only when every value is whole, so that 3.5 in an integer column still fails the type expectation.
    """
    for column in spec.columns:
        if column.dtype != "int" or column.name not in frame or frame[column.name].dtype != "float64":
            continue
        values = frame[column.name].dropna()
        if (values % 1 == 0).all():
            frame[column.name] = frame[column.name].astype("Int64")


def build_suite(spec: DatasetSpec) -> gx.ExpectationSuite:
    """The spec's expectations, each with the GX severity of its column."""
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=spec.min_rows, max_value=spec.max_rows)
    ]
    for column in spec.columns:
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


def run_suite(frame: pd.DataFrame, suite: gx.ExpectationSuite) -> list[ExpectationValidationResult]:
    """Run the suite on the frame in a throwaway in-memory GX context; results in suite order."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset("raw_csv")
        .add_batch_definition_whole_dataframe("whole_file")
    )
    saved = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=batch, suite=saved))
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    # GX groups results by metric; the report reads better in the spec's column order.
    position = {expectation.id: index for index, expectation in enumerate(saved.expectations)}
    return sorted(result.results, key=lambda item: position[item.expectation_config.id])


def validate_data(data_path: Path, spec: DatasetSpec, report_html: Path, summary_json: Path) -> ValidationSummary:
    """Validate the file, always write the report and summary, raise on any critical failure."""
    try:
        frame = read_raw_csv(data_path, spec)
    except DataValidationError as error:
        summary = ValidationSummary(
            data_path=str(data_path), dataset=spec.name, success=False, row_count=0, column_count=0,
            expectations_evaluated=0, expectations_failed=0, critical_failures=[str(error)],
            warnings=[], outcomes=[], error=str(error),
        )  # fmt: skip
        write_outputs(summary, report_html, summary_json)
        raise DataValidationError(str(error), summary) from None
    outcomes = [outcome_of(result) for result in run_suite(frame, build_suite(spec))]
    failed = [outcome for outcome in outcomes if not outcome.success]
    problems = _root_causes(failed)
    critical = [outcome.describe() for outcome in problems if outcome.severity == "critical"]
    extra = [name for name in frame.columns if name not in spec.column_names]
    warnings = [outcome.describe() for outcome in problems if outcome.severity != "critical"]
    warnings += [f"column '{name}' is not in the spec" for name in extra]
    summary = ValidationSummary(
        data_path=str(data_path), dataset=spec.name, success=not critical, row_count=len(frame),
        column_count=len(frame.columns), expectations_evaluated=len(outcomes),
        expectations_failed=len(failed), critical_failures=critical, warnings=warnings, outcomes=outcomes,
    )  # fmt: skip
    write_outputs(summary, report_html, summary_json)
    if critical:
        lines = "\n".join(f"  - {failure}" for failure in critical)
        raise DataValidationError(f"{data_path}: {len(critical)} critical expectation(s) failed:\n{lines}", summary)
    return summary


def _root_causes(failed: list[ExpectationOutcome]) -> list[ExpectationOutcome]:
    """Failures minus those that only failed because their column is missing, which is said once.

    The report's table still lists every expectation.
    """
    missing = {outcome.column for outcome in failed if outcome.expectation == "expect_column_to_exist"}
    return [o for o in failed if o.column not in missing or o.expectation == "expect_column_to_exist"]


def run_validate_step(
    data_uri: str,
    dataset: str,
    tracking_uri: str,
    experiment: str,
    pipeline_job_name: str,
    report_path: Path,
    summary_path: Path,
) -> tuple[int, str]:
    """Open the pipeline's MLflow run, validate inside its `validate` child run; returns (rows, run id)."""
    spec = get_spec(dataset)
    run_id = tracking.start_pipeline_run(
        tracking_uri,
        experiment,
        pipeline_job_name,
        params={"dataset": dataset, "data_uri": data_uri},
        tags={tracking.DATASET_TAG: dataset},
    )
    with (
        tempfile.TemporaryDirectory(prefix="validate-") as scratch,
        tracking.step_run(tracking_uri, run_id, "validate"),
    ):
        data_path = _local_copy(data_uri, Path(scratch))
        try:
            summary = validate_data(data_path, spec, report_path, summary_path)
        except DataValidationError as error:
            if error.summary is not None:
                _log_to_mlflow(error.summary, report_path, summary_path)
            raise
        _log_to_mlflow(summary, report_path, summary_path)
    return summary.row_count, run_id


def _local_copy(data_uri: str, scratch: Path) -> Path:
    """A local path is read in place; s3:// (or file://) is downloaded into `scratch` first."""
    if "://" in data_uri:
        from components.common.storage import download_file

        return download_file(data_uri, scratch / PurePosixPath(data_uri).name)
    return Path(data_uri)


def _log_to_mlflow(summary: ValidationSummary, report_path: Path, summary_path: Path) -> None:
    mlflow.log_metrics(
        {
            "rows": summary.row_count,
            "expectations_evaluated": summary.expectations_evaluated,
            "expectations_failed": summary.expectations_failed,
            "critical_failures": len(summary.critical_failures),
        }
    )
    # KFP output paths carry no extension; named copies let the MLflow UI render them.
    mlflow.log_text(report_path.read_text(encoding="utf-8"), "validation/report.html")
    mlflow.log_text(summary_path.read_text(encoding="utf-8"), "validation/summary.json")
