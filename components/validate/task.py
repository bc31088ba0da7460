"""Validate the raw CSV against its dataset spec with a Great Expectations suite.

The file's bytes are checked first (empty, not UTF-8, rows with the wrong number
of fields), because pandas would otherwise fail with a parser error or quietly
read a broken file. The rows then go through a GX suite built from the spec, in
batches of `CHUNK_ROWS` so that memory stays flat however large the file is:
counts add up across batches and each `mostly` is judged on the whole file.
The HTML report and JSON summary are always written, failure or not; critical
failures raise `DataValidationError`, warnings are only reported.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path, PurePosixPath
from typing import Iterator, NamedTuple

import mlflow
import pandas as pd
from mlflow.entities import Param

from components.common import tracking
from components.common.images import image_version
from components.common.specs import get_spec, spec_fingerprint
from components.common.specs.base import DatasetSpec
from components.data.baseline import log_training_baseline
from components.runs import step_runs
from components.validate.lineage import data_lineage
from components.validate.raw_file import DataValidationError, check_bytes, content_digest
from components.validate.report import ExpectationOutcome, ValidationSummary, outcome_of, write_outputs
from components.validate.suite import build_suite, run_suite_on_chunks

logger = logging.getLogger(__name__)

# Rows per batch the suite checks at a time; a file with no more rows is checked as one frame.
CHUNK_ROWS = 250_000


def read_raw_csv(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """Read the whole raw CSV after checking its bytes; raises DataValidationError naming the file and line."""
    check_bytes(path, spec)
    frame = pd.read_csv(path, dtype=_string_dtypes(spec), encoding="utf-8")
    _restore_integer_columns(frame, spec)
    _warn_extra_columns(path, spec, frame)
    return frame


def read_raw_chunks(path: Path, spec: DatasetSpec, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The raw CSV as frames of at most `chunk_rows` rows, after checking its bytes; at least one frame."""
    check_bytes(path, spec)
    try:
        with pd.read_csv(path, dtype=_string_dtypes(spec), encoding="utf-8", chunksize=chunk_rows) as reader:
            for number, frame in enumerate(reader):
                _restore_integer_columns(frame, spec)
                if number == 0:
                    _warn_extra_columns(path, spec, frame)
                yield frame
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        # What the byte checks let through but pandas cannot tokenize (e.g. a quote left open to the end).
        raise DataValidationError(f"{path}: not readable as CSV: {error}") from None


def _string_dtypes(spec: DatasetSpec) -> dict[str, type]:
    # Numeric columns are not given a dtype: a stray word makes pandas read the column
    # as text, which the type expectation then reports instead of a parser error.
    return {column.name: object for column in spec.columns if column.dtype == "string"}


def _warn_extra_columns(path: Path, spec: DatasetSpec, frame: pd.DataFrame) -> None:
    extra = [name for name in frame.columns if name not in spec.column_names]
    if extra:
        logger.warning("%s: columns not in spec %s: %s", path, spec.name, extra)


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


def validate_data(data_path: Path, spec: DatasetSpec, report_html: Path, summary_json: Path) -> ValidationSummary:
    """Validate the file, always write the report and summary, raise on any critical failure."""
    try:
        run = run_suite_on_chunks(read_raw_chunks(data_path, spec), build_suite(spec))
    except DataValidationError as error:
        summary = ValidationSummary(
            data_path=str(data_path), dataset=spec.name, success=False, row_count=0, column_count=0,
            expectations_evaluated=0, expectations_failed=0, critical_failures=[str(error)],
            warnings=[], outcomes=[], error=str(error),
        )  # fmt: skip
        write_outputs(summary, report_html, summary_json)
        raise DataValidationError(str(error), summary) from None
    outcomes = [outcome_of(result) for result in run.results]
    failed = [outcome for outcome in outcomes if not outcome.success]
    problems = _root_causes(failed)
    critical = [outcome.describe() for outcome in problems if outcome.severity == "critical"]
    extra = [name for name in run.columns if name not in spec.column_names]
    warnings = [outcome.describe() for outcome in problems if outcome.severity != "critical"]
    warnings += [f"column '{name}' is not in the spec" for name in extra]
    summary = ValidationSummary(
        data_path=str(data_path), dataset=spec.name, success=not critical, row_count=run.row_count,
        column_count=len(run.columns), expectations_evaluated=len(outcomes),
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


class ValidateOutcome(NamedTuple):
    """What validate hands on: the rows it checked, the pipeline's MLflow run, and the digest that pins the file."""

    row_count: int
    mlflow_run_id: str
    data_sha256: str
    data_size: int
    spec_fingerprint: str


def run_validate_step(
    data_uri: str,
    dataset: str,
    tracking_uri: str,
    experiment: str,
    pipeline_job_name: str,
    report_path: Path,
    summary_path: Path,
    s3_endpoint_url: str = "",
) -> ValidateOutcome:
    """Open the pipeline's MLflow run and validate inside its `validate` child run.

    The content digest of exactly the bytes validated is logged (params `data_sha256`, `data_size`) and
    returned with the spec's fingerprint: transform refuses a file whose content differs, or another spec.
    Params `spec_fingerprint` and `code_version` and, once the file passed, an MLflow dataset input
    record the rest of the lineage that push copies onto the registered version.
    An empty `s3_endpoint_url` means AWS itself.
    """
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
        step_runs.step_run(tracking_uri, run_id, "validate") as step,
    ):
        data_path = _local_copy(data_uri, Path(scratch), s3_endpoint_url)
        digest = content_digest(data_path)
        fingerprint = spec_fingerprint(dataset)
        pinned = {
            "data_sha256": digest.sha256,
            "data_size": digest.size,
            "spec_fingerprint": fingerprint,
            "code_version": image_version(),
        }
        mlflow.log_params(pinned)
        pipeline_params = [Param(key, str(value)) for key, value in pinned.items()]
        tracking.client(tracking_uri).log_batch(run_id, params=pipeline_params)
        try:
            summary = validate_data(data_path, spec, report_path, summary_path)
        except DataValidationError as error:
            if error.summary is not None:
                _log_to_mlflow(error.summary, report_path, summary_path)
            raise
        _log_to_mlflow(summary, report_path, summary_path)
        dataset_input = data_lineage(data_uri, spec, digest.sha256, summary.row_count)
        for logged_on in (run_id, step.info.run_id):
            tracking.client(tracking_uri).log_inputs(logged_on, datasets=[dataset_input])
        log_training_baseline(data_path, spec, data_uri, tracking_uri, run_id)
    return ValidateOutcome(summary.row_count, run_id, digest.sha256, digest.size, fingerprint)


def _local_copy(data_uri: str, scratch: Path, endpoint_url: str) -> Path:
    """A local path is read in place; s3:// (or file://) is downloaded into `scratch` first."""
    if "://" in data_uri:
        from components.common.storage import download_file

        return download_file(data_uri, scratch / PurePosixPath(data_uri).name, endpoint_url or None)
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
