"""The validate step on small CSVs written here: real GX suites, a real SQLite MLflow store."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from components.common import tracking
from components.common.images import image_version
from components.common.specs import get_spec, spec_fingerprint
from components.common.specs.base import Column, DatasetSpec, Label, Numeric
from components.data.sources import resolve_source
from components.validate.report import ValidationSummary
from components.validate.task import DataValidationError, run_validate_step, validate_data

TINY = DatasetSpec(
    name="tiny",
    description="Five columns, enough to exercise every kind of expectation.",
    columns=(
        Column("fare", "float", min_value=0, max_value=1000, range_mostly=0.9),
        Column("hour", "int", max_null_fraction=0.2, min_value=0, max_value=23),
        Column("payment", "string", allowed_values=("Cash", "Card"), allowed_mostly=0.9),
        Column("note", "string", max_null_fraction=1.0),
        Column("tips", "float", max_null_fraction=0.5, min_value=0, max_value=100, severity="warning"),
    ),
    label=Label("paid", ("fare",), ("fare",), derive=lambda raw: raw["fare"], description="unused"),
    features=(Numeric("hour"),),
    slice_columns=("payment",),
    min_rows=5,
    thresholds={"roc_auc": 0.5, "accuracy": 0.5, "log_loss": 1.0},
)
HEADER = "fare,hour,payment,note,tips"


def good_rows(count: int = 20) -> list[dict[str, Any]]:
    return [
        {"fare": 5.5 + i, "hour": i % 24, "payment": ("Cash", "Card")[i % 2], "note": "", "tips": 1.0}
        for i in range(count)
    ]


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "data.csv"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def validate(tmp_path: Path, data: Path, spec: DatasetSpec = TINY) -> ValidationSummary:
    return validate_data(data, spec, tmp_path / "out" / "report.html", tmp_path / "out" / "summary.json")


def failing(tmp_path: Path, content: str | bytes, *expected: str) -> DataValidationError:
    """Validate, expect a DataValidationError whose message names the file and each `expected` phrase."""
    data = write(tmp_path, content)
    with pytest.raises(DataValidationError) as caught:
        validate(tmp_path, data)
    message = str(caught.value)
    assert str(data) in message
    for phrase in expected:
        assert phrase in message, f"{phrase!r} not in:\n{message}"
    return caught.value


def test_good_data_passes_and_reports_every_expectation(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3]["note"] = "late, but polite"  # a quoted comma is one field, not two
    rows[4]["hour"] = ""  # an integer column with nulls still reads as integers
    summary = validate(tmp_path, write(tmp_path, to_csv(rows)))

    assert summary.success
    assert (summary.row_count, summary.column_count) == (20, 5)
    assert summary.critical_failures == [] and summary.warnings == [] and summary.expectations_failed == 0
    # row count + per column: exists, type, nulls (not for `note`), range or set
    assert summary.expectations_evaluated == 1 + 5 * 2 + 4 + 4
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["success"] is True and saved["row_count"] == 20
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Data validation passed: tiny" in report and "expect_column_values_to_be_in_set" in report


def test_default_dataset_spec_passes_on_generated_rows(tmp_path: Path) -> None:
    spec = get_spec("modeldata_taxi")
    summary = validate(tmp_path, write(tmp_path, modeldata_csv(1200)), spec)
    assert summary.success and summary.row_count == 1200


def test_missing_column(tmp_path: Path) -> None:
    rows = [{key: value for key, value in row.items() if key != "hour"} for row in good_rows()]
    error = failing(tmp_path, to_csv(rows), "column 'hour': expected the column in the header, it is missing")
    # the column's other expectations fail too, but the message names the cause once
    assert error.summary is not None and error.summary.expectations_failed == 4
    assert str(error).count("column 'hour'") == 1


def test_text_in_numeric_column_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    rows = good_rows()
    rows[7]["fare"] = "twelve"
    failing(tmp_path, to_csv(rows), "line 9, column 'fare': expected a number (float), got 'twelve'")


def test_fraction_in_integer_column_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2]["hour"] = 3.5
    failing(tmp_path, to_csv(rows), "line 4, column 'hour': expected a whole number (int), got '3.5'")


@pytest.mark.parametrize("number", ["inf", "-inf", "1e400", "Infinity"])
def test_a_non_finite_number_is_refused_naming_line_and_column(tmp_path: Path, number: str) -> None:
    rows = good_rows()
    rows[5]["tips"] = number  # a warning column: the reader refuses it all the same
    failing(tmp_path, to_csv(rows), f"line 7, column 'tips': expected a finite number, got '{number}'")


def test_a_null_binary_label_is_refused_naming_the_line(tmp_path: Path) -> None:
    """The spec checks no label column of a binary task; a null one would silently be class 0."""
    spec = get_spec("modeldata_taxi")
    lines = modeldata_csv(1200).splitlines()
    lines[40] = "NA" + lines[40][lines[40].index(",") :]
    data = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"line 41, column 'tip': expected a value \(a binary task's label\)"):
        validate(tmp_path, data, spec)


def test_a_missing_binary_label_is_refused_even_where_the_column_allows_missing_values(tmp_path: Path) -> None:
    spec = dataclasses.replace(
        TINY, columns=(dataclasses.replace(TINY.columns[0], max_null_fraction=0.5), *TINY.columns[1:])
    )
    rows = good_rows()
    rows[3]["fare"] = "null"
    data = write(tmp_path, to_csv(rows))
    with pytest.raises(
        DataValidationError, match=r"line 5, column 'fare': expected a value \(a binary task's label\), got 'null'"
    ):
        validate(tmp_path, data, spec)


def test_a_line_over_the_limit_is_refused_naming_it(tmp_path: Path) -> None:
    rows = good_rows()
    rows[9]["note"] = "x" * 5000
    data = write(tmp_path, to_csv(rows))
    with pytest.raises(DataValidationError, match=r"line 11: longer than 2048 bytes"):
        validate(tmp_path, data, dataclasses.replace(TINY, max_line_bytes=2048))


def test_a_parquet_column_of_the_wrong_type_is_refused_naming_it(tmp_path: Path) -> None:
    frame = pd.read_csv(io.StringIO(to_csv(good_rows())), dtype={"note": object})
    frame["hour"] = frame["hour"].astype(str)
    frame.to_parquet(tmp_path / "data.parquet")
    with pytest.raises(
        DataValidationError,
        match=r"data.parquet: column 'hour' is (large_)?string in the file; the spec reads it as int",
    ):
        validate(tmp_path, tmp_path / "data.parquet")


@pytest.mark.parametrize("layout", ["folder", "glob", "gzip", "parquet"])
def test_validate_reads_a_folder_a_glob_gzip_and_parquet(tmp_path: Path, layout: str) -> None:
    text = to_csv(good_rows(30))
    header, *lines = text.splitlines(keepends=True)
    parts = tmp_path / "parts"
    (parts / "day=1").mkdir(parents=True)
    (parts / "day=2").mkdir()
    for number, chunk in enumerate((lines[:10], lines[10:])):
        content = header + "".join(chunk)
        if layout == "gzip":
            (parts / f"day={number + 1}" / "part.csv.gz").write_bytes(gzip.compress(content.encode()))
        elif layout == "parquet":
            table = pd.read_csv(io.StringIO(content), dtype={"note": object, "payment": object})
            table.to_parquet(parts / f"day={number + 1}" / "part.parquet")
        else:
            (parts / f"day={number + 1}" / "part.csv").write_text(content)
    data = f"{parts}/day=*/part.csv" if layout == "glob" else str(parts)
    summary = validate(tmp_path, data)  # type: ignore[arg-type]
    assert summary.success and (summary.row_count, summary.data_path) == (30, data)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"], ids=["zero-bytes", "blank-lines"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    failing(tmp_path, content, "the file is empty", f"expected a header line: {HEADER}")


def test_column_entirely_null(tmp_path: Path) -> None:
    rows = good_rows()
    for row in rows:
        row["hour"] = ""
    failing(tmp_path, to_csv(rows), "column 'hour': expected at most 20% null values, 100.0% null (20 of 20 rows)")


def test_out_of_range_values(tmp_path: Path) -> None:
    rows = good_rows()
    for row in rows[:6]:
        row["fare"] = -1.0
    failing(
        tmp_path,
        to_csv(rows),
        "column 'fare': expected values between 0 and 1000 in at least 90% of non-null rows, 30.0% outside (e.g. -1.0",
    )


def test_unseen_category_in_30_percent_of_rows(tmp_path: Path) -> None:
    rows = good_rows()
    for row in rows[::10] + rows[1::10] + rows[2::10]:
        row["payment"] = "Bitcoin"
    failing(
        tmp_path,
        to_csv(rows),
        "column 'payment': expected values in {Cash, Card}",
        "30.0% not in the set (e.g. 'Bitcoin'",
    )


def test_truncated_last_line(tmp_path: Path) -> None:
    text = to_csv(good_rows()) + "7.5,3"
    failing(tmp_path, text, "line 22: found 2 fields, expected 5")


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "byte-order-mark"])
def test_non_utf8_bytes(tmp_path: Path, bom: bytes) -> None:
    text = bom + to_csv(good_rows()).encode("utf-8")
    lines = text.split(b"\n")
    lines[5] = lines[5].replace(b"Cash", b"Ca\xe9sh").replace(b"Card", b"Ca\xe9rd")
    bad = b"\n".join(lines)
    offset = bad.index(b"\xe9")
    failing(tmp_path, bad, f"line 6, byte offset {offset}: not valid UTF-8")


def test_a_quoted_line_break_is_refused_naming_the_line(tmp_path: Path) -> None:
    """pandas reads it as one row; the transform reads one row per line and would see two broken ones."""
    rows = good_rows()
    rows[6]["note"] = "first line\nsecond line"
    failing(tmp_path, to_csv(rows), "line 8: a quoted field holds a line break")


def test_a_header_naming_a_column_twice_is_refused_naming_it(tmp_path: Path) -> None:
    text = to_csv(good_rows()).replace(HEADER, "fare,hour,payment,fare,tips", 1)
    failing(tmp_path, text, "line 1: the header names a column more than once: 'fare' at fields 1, 4")


def test_a_byte_order_mark_is_accepted_as_transform_accepts_it(tmp_path: Path) -> None:
    from components.transform.rows import read_header

    data = write(tmp_path, b"\xef\xbb\xbf" + to_csv(good_rows()).encode("utf-8"))
    assert validate(tmp_path, data).success
    assert read_header(str(data)) == HEADER.split(",")


def test_warning_failure_does_not_raise_but_is_reported(tmp_path: Path) -> None:
    rows = good_rows()
    for row in rows[:12]:
        row["tips"] = ""
    for row in rows:
        row["extra"] = "x"
    summary = validate(tmp_path, write(tmp_path, to_csv(rows)))

    assert summary.success and summary.critical_failures == []
    assert summary.expectations_failed == 1
    assert summary.warnings == [
        "column 'tips': expected at most 50% null values, 60.0% null (12 of 20 rows)",
        "column 'extra' is not in the spec",
    ]
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["warnings"] == summary.warnings


def test_report_and_summary_written_when_expectations_fail(tmp_path: Path) -> None:
    rows = good_rows(3)
    error = failing(tmp_path, to_csv(rows), "table: expected at least 5 rows, observed 3")

    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["success"] is False and saved["critical_failures"] == error.summary.critical_failures
    failed = [outcome for outcome in saved["outcomes"] if not outcome["success"]]
    assert [outcome["expectation"] for outcome in failed] == ["expect_table_row_count_to_be_between"]
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Data validation FAILED: tiny" in report and "expected at least 5 rows, observed 3" in report


def test_report_and_summary_written_when_the_file_is_unreadable(tmp_path: Path) -> None:
    failing(tmp_path, to_csv(good_rows()) + "1,2", "line 22")

    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "line 22: found 2 fields" in saved["error"] and saved["expectations_evaluated"] == 0
    assert "line 22: found 2 fields" in (tmp_path / "out" / "report.html").read_text()


def test_html_report_escapes_the_data(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0]["payment"] = "<script>alert(1)</script>"
    rows[1]["payment"] = "<b>"
    rows[2]["payment"] = "<i>"
    failing(tmp_path, to_csv(rows), "column 'payment'")
    report = (tmp_path / "out" / "report.html").read_text()
    assert "<script>" not in report and "&lt;script&gt;" in report


def test_the_reader_keeps_numbers_numeric_and_text_as_text(tmp_path: Path) -> None:
    from components.data.reader import read_frame

    rows = good_rows()
    rows[0]["hour"] = ""
    rows[1]["payment"] = "123"
    frame = read_frame(resolve_source(str(write(tmp_path, to_csv(rows)))), TINY)
    assert str(frame["fare"].dtype) == "float64" and str(frame["hour"].dtype) == "Int64"
    assert frame["payment"].tolist()[:2] == ["Cash", "123"]


def modeldata_csv(count: int) -> str:
    rows = [
        {
            "tip": ("yes", "no")[i % 2],
            "distance": round(0.5 + i % 17 * 1.3, 2),
            "company": ("Flash Cab", "Sun Taxi", "other")[i % 3],
            "local": ("yes", "no")[i % 5 == 0],
            "dow": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[i % 7],
            "month": ("Jan", "Feb", "Mar")[i % 3],
            "hour": i % 24,
        }
        for i in range(count)
    ]
    return to_csv(rows)


def manifest_sha256(data: Path) -> str:
    """The digest validate logs: the SHA-256 of the manifest line (URI, size, SHA-256) of each file read."""
    line = f"{data}\t{data.stat().st_size}\t{hashlib.sha256(data.read_bytes()).hexdigest()}\n"
    return hashlib.sha256(line.encode()).hexdigest()


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module's step tests (creating it runs every migration)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def step_runs(mlflow_uri: str, pipeline_run_id: str) -> tuple[Any, Any]:
    client = MlflowClient(tracking_uri=mlflow_uri)
    pipeline = client.get_run(pipeline_run_id)
    children = client.search_runs(
        [pipeline.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{pipeline_run_id}'"
    )
    assert [child.info.run_name for child in children] == ["validate"]
    return pipeline, children[0]


def artifact_names(mlflow_uri: str, run_id: str) -> list[str]:
    return sorted(item.path for item in MlflowClient(tracking_uri=mlflow_uri).list_artifacts(run_id, "validation"))


def test_run_validate_step_opens_the_pipeline_run_and_logs_the_validate_run(tmp_path: Path, mlflow_uri: str) -> None:
    data = write(tmp_path, modeldata_csv(1000))
    outcome = run_validate_step(
        str(data),
        "modeldata_taxi",
        mlflow_uri,
        "validate-ok",
        "job-ok",
        tmp_path / "report.html",
        tmp_path / "summary.json",
    )

    rows, run_id = outcome.row_count, outcome.mlflow_run_id
    assert rows == 1000
    expected_digest = manifest_sha256(data)
    assert (outcome.data_sha256, outcome.data_size) == (expected_digest, data.stat().st_size)
    assert outcome.spec_fingerprint == spec_fingerprint("modeldata_taxi")
    pipeline, step = step_runs(mlflow_uri, run_id)
    assert pipeline.info.status == RunStatus.to_string(RunStatus.RUNNING)  # later steps still to come
    pinned = {"data_sha256": expected_digest, "data_size": str(data.stat().st_size)}
    lineage = {"spec_fingerprint": spec_fingerprint("modeldata_taxi"), "code_version": image_version()}
    assert pipeline.data.params == {"dataset": "modeldata_taxi", "data_uri": str(data), **pinned, **lineage}
    assert {key: step.data.params[key] for key in pinned} == pinned
    assert pipeline.data.tags[tracking.PIPELINE_JOB_TAG] == "job-ok"
    assert pipeline.data.tags[tracking.DATASET_TAG] == "modeldata_taxi"
    assert step.info.status == RunStatus.to_string(RunStatus.FINISHED)
    assert step.data.metrics == {
        "rows": 1000,
        "expectations_evaluated": 29,
        "expectations_failed": 0,
        "critical_failures": 0,
    }
    assert artifact_names(mlflow_uri, step.info.run_id) == ["validation/report.html", "validation/summary.json"]


def test_run_validate_step_failure_marks_the_pipeline_run_failed(tmp_path: Path, mlflow_uri: str) -> None:
    data = write(tmp_path, modeldata_csv(1000).replace(",Mon,", ",Funday,"))
    with pytest.raises(DataValidationError, match=re.escape("column 'dow': expected values in {Mon")):
        run_validate_step(
            str(data),
            "modeldata_taxi",
            mlflow_uri,
            "validate-bad",
            "job-bad",
            tmp_path / "report.html",
            tmp_path / "summary.json",
        )

    client = MlflowClient(tracking_uri=mlflow_uri)
    [pipeline] = client.search_runs(
        [client.get_experiment_by_name("validate-bad").experiment_id], filter_string="tags.mlflow.parentRunId IS NULL"
    )
    pipeline, step = step_runs(mlflow_uri, pipeline.info.run_id)
    assert pipeline.info.status == step.info.status == RunStatus.to_string(RunStatus.FAILED)
    assert step.data.metrics["critical_failures"] == 1
    assert artifact_names(mlflow_uri, step.info.run_id) == ["validation/report.html", "validation/summary.json"]


def test_run_validate_step_downloads_s3_data_from_the_endpoint_it_is_given(
    tmp_path: Path, mlflow_uri: str, s3_endpoint: str
) -> None:
    """The s3_endpoint fixture clears AWS_ENDPOINT_URL: only the step's own parameter names moto."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="raw")
    s3.put_object(Bucket="raw", Key="taxi/data.csv", Body=modeldata_csv(1000).encode())

    rows, run_id, *_ = run_validate_step(
        "s3://raw/taxi/data.csv",
        "modeldata_taxi",
        mlflow_uri,
        "validate-s3",
        "job-s3",
        tmp_path / "r.html",
        tmp_path / "s.json",
        s3_endpoint_url=s3_endpoint,
    )
    assert rows == 1000
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).data.params["data_uri"] == "s3://raw/taxi/data.csv"


def test_component_wraps_the_step(tmp_path: Path, mlflow_uri: str) -> None:
    from kfp.dsl import HTML, Artifact

    from components.validate.component import validate as component

    report, summary = HTML(uri=str(tmp_path / "report.html")), Artifact(uri=str(tmp_path / "summary.json"))
    data = write(tmp_path, modeldata_csv(1000))
    rows, run_id, sha256, size, fingerprint, as_of = component.python_func(
        str(data), "modeldata_taxi", mlflow_uri, "validate-kfp", "job-kfp", "", report, summary
    )

    assert rows == 1000 and MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).info.run_name == "job-kfp"
    assert (sha256, size) == (manifest_sha256(data), data.stat().st_size)
    assert fingerprint == spec_fingerprint("modeldata_taxi")
    assert as_of == ""  # no span pattern: no window to pin
    assert json.loads(Path(summary.path).read_text())["success"] is True
    assert set(component.component_spec.outputs) == {
        "report", "summary", "row_count", "mlflow_run_id", "data_sha256", "data_size", "spec_fingerprint",
        "data_as_of",
    }  # fmt: skip


def test_the_pipeline_run_and_the_validate_run_record_the_file_as_their_input_dataset(
    tmp_path: Path, mlflow_uri: str
) -> None:
    data = write(tmp_path, modeldata_csv(1000))
    outcome = run_validate_step(
        str(data), "modeldata_taxi", mlflow_uri, "validate-lineage", "job-lineage",
        tmp_path / "report.html", tmp_path / "summary.json",
    )  # fmt: skip

    client = MlflowClient(tracking_uri=mlflow_uri)
    pipeline, step = step_runs(mlflow_uri, outcome.mlflow_run_id)
    sha256 = manifest_sha256(data)
    for run in (pipeline, step):
        (entry,) = client.get_run(run.info.run_id).inputs.dataset_inputs
        assert {tag.key: tag.value for tag in entry.tags} == {"mlflow.data.context": "training", "data_sha256": sha256}
        dataset = entry.dataset
        assert (dataset.name, dataset.digest, dataset.source_type) == ("modeldata_taxi", sha256[:12], "local")
        assert json.loads(dataset.source) == {"uri": str(data)}
        assert json.loads(dataset.profile) == {"num_rows": 1000, "num_elements": 7000}
        columns = json.loads(dataset.schema)["mlflow_colspec"]
        assert [(column["name"], column["type"]) for column in columns] == [
            ("tip", "string"), ("distance", "double"), ("company", "string"), ("local", "string"),
            ("dow", "string"), ("month", "string"), ("hour", "long"),
        ]  # fmt: skip


def test_a_file_that_fails_validation_is_not_recorded_as_an_input(tmp_path: Path, mlflow_uri: str) -> None:
    data = write(tmp_path, modeldata_csv(1000).replace(",Mon,", ",Funday,"))
    with pytest.raises(DataValidationError):
        run_validate_step(
            str(data), "modeldata_taxi", mlflow_uri, "validate-no-lineage", "job-no-lineage",
            tmp_path / "report.html", tmp_path / "summary.json",
        )  # fmt: skip

    client = MlflowClient(tracking_uri=mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("validate-no-lineage").experiment_id])
    assert [run.info.run_name for run in runs] == ["validate", "job-no-lineage"]
    assert [run.inputs.dataset_inputs for run in runs] == [[], []]
