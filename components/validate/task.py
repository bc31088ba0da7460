"""Validate the raw data against its dataset spec with a Great Expectations suite.

DATA_URI names a file, a folder or a glob of CSV (.csv, .csv.gz) or Parquet files (components/data/sources.py).
Every row is read by the one reader every step shares (components/data/reader.py), which refuses what no
step may read, naming the file, line and column: bytes that are not UTF-8, a malformed row, a line over the
spec's limit, a value not of its column's type, a non-finite number, a null label. The spec-typed rows then
go through a GX suite built from the spec, in batches of `CHUNK_ROWS` so that memory stays flat however
large the data is: counts add up across batches and each `mostly` is judged on the whole of it.
A sample of the rows is scanned for personal data in columns the spec does not declare sensitive
(components/validate/personal_data.py); a finding is a critical failure. The report never shows a
sensitive column's values. The HTML report and JSON summary are always written, failure or not; critical
failures raise `DataValidationError`, warnings are only reported.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Iterator, NamedTuple

import mlflow
import pandas as pd
from mlflow.entities import Param

from components.common import tracking
from components.common.images import image_version
from components.common.specs import get_spec, spec_fingerprint
from components.common.specs.base import DatasetSpec
from components.data.baseline import log_training_baseline
from components.data.reader import empty_frame, file_columns, read_batches, to_frame
from components.data.sources import DataSource, resolve_source
from components.data.values import RawDataError
from components.runs import step_runs
from components.validate.images import check_images, image_summaries
from components.validate.lineage import record_source
from components.validate.personal_data import Sample, scan_frame
from components.validate.raw_file import DataValidationError, check_bytes
from components.validate.report import ExpectationOutcome, ValidationSummary, outcome_of, write_outputs
from components.validate.suite import build_suite, run_suite_on_chunks

__all__ = ["DataValidationError", "check_bytes", "read_raw_chunks", "run_validate_step", "validate_data"]

logger = logging.getLogger(__name__)

# Rows per batch the suite checks at a time; data with no more rows is checked as one frame.
CHUNK_ROWS = 250_000


def read_raw_chunks(
    source: DataSource, spec: DatasetSpec, chunk_rows: int = CHUNK_ROWS
) -> tuple[list[str], Iterator[pd.DataFrame]]:
    """The columns of the first file, and the spec's columns it holds as typed frames of at most `chunk_rows` rows.

    A spec column the first file lacks is left out, so the suite reports it with its expectations; a later
    file that lacks one the first has is refused by the reader. At least one frame, empty for no rows.
    """
    held = file_columns(source.files[0], spec, source.endpoint_url)
    extra = [name for name in held if name not in spec.column_names]
    if extra:
        logger.warning("%s: columns not in spec %s: %s", source.data_uri, spec.name, extra)
    columns = [name for name in spec.column_names if name in held]

    def frames() -> Iterator[pd.DataFrame]:
        empty = True
        for batch in read_batches(source, spec, columns, batch_rows=chunk_rows, image_bytes=False):
            empty = False
            yield to_frame(batch)
        if empty:
            yield empty_frame(spec, columns)

    return held, frames()


def validate_data(
    data: Path | str | DataSource, spec: DatasetSpec, report_html: Path, summary_json: Path
) -> ValidationSummary:
    """Validate the data, always write the report and summary, raise on any critical failure."""
    data_path = data.data_uri if isinstance(data, DataSource) else str(data)
    try:
        source = data if isinstance(data, DataSource) else resolve_source(data_path)
        held, frames = read_raw_chunks(source, spec)
        sample = Sample()
        run = run_suite_on_chunks(sample.through(frames), build_suite(spec))
    except (DataValidationError, RawDataError) as error:
        message = str(error)
        summary = ValidationSummary(
            data_path=data_path, dataset=spec.name, success=False, row_count=0, column_count=0,
            expectations_evaluated=0, expectations_failed=0, critical_failures=[message],
            warnings=[], outcomes=[], error=message,
        )  # fmt: skip
        write_outputs(summary, report_html, summary_json)
        raise DataValidationError(message, summary) from None
    outcomes = [outcome_of(result, hidden=spec.sensitive_columns) for result in run.results]
    failed = [outcome for outcome in outcomes if not outcome.success]
    problems = _root_causes(failed)
    critical = [outcome.describe() for outcome in problems if outcome.severity == "critical"]
    critical += [finding.describe() for finding in scan_frame(sample.frame, spec, spec.sensitive_columns)]
    images = check_images(source, spec)
    critical += [check.failure() for check in images if not check.passed]
    extra = [name for name in held if name not in spec.column_names]
    warnings = [outcome.describe() for outcome in problems if outcome.severity != "critical"]
    warnings += [f"column '{name}' is not in the spec" for name in extra]
    summary = ValidationSummary(
        data_path=data_path, dataset=spec.name, success=not critical, row_count=run.row_count,
        column_count=len(held), expectations_evaluated=len(outcomes),
        expectations_failed=len(failed), critical_failures=critical, warnings=warnings, outcomes=outcomes,
        images=image_summaries(images, spec),
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
    *,
    window: int | None = None,
    at: date | None = None,
    allow_missing_spans: bool = False,
) -> ValidateOutcome:
    """Open the pipeline's MLflow run and validate inside its `validate` child run.

    The digest of the manifest of the files validated (each one's URI, size and SHA-256; components/data/
    sources.py) is logged (params `data_sha256`, `data_size`: the files' bytes in all) and returned with the
    spec's fingerprint: transform refuses data whose files differ, or another spec. `window`, `at` and
    `allow_missing_spans` resolve a span pattern in `data_uri` (components/data/spans.py).
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
    with step_runs.step_run(tracking_uri, run_id, "validate") as step:
        try:
            source = resolve_source(
                data_uri, window=window, at=at, allow_missing_spans=allow_missing_spans, endpoint_url=s3_endpoint_url
            )
        except RawDataError as error:
            raise DataValidationError(str(error)) from None
        digest = source.digest()
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
            summary = validate_data(source, spec, report_path, summary_path)
        except DataValidationError as error:
            if error.summary is not None:
                _log_to_mlflow(error.summary, report_path, summary_path)
            raise
        _log_to_mlflow(summary, report_path, summary_path)
        # The dataset inputs (the source, each span) and the tags naming the spans and files read.
        record_source(tracking.client(tracking_uri), [run_id, step.info.run_id], source, spec, summary.row_count)
        log_training_baseline(source, spec, data_uri, tracking_uri, run_id)
    return ValidateOutcome(summary.row_count, run_id, digest.sha256, digest.size, fingerprint)


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
