"""The real Chicago taxi sample must meet its spec: zero critical failures.

An extra run where ../shared holds the file (developer machines and CI); elsewhere conftest.py does
not collect this module. test_bundled_data.py checks the dataset every clone installs.
"""

from __future__ import annotations

from pathlib import Path

from components.common.specs import get_spec
from components.validate.task import validate_data

# The same path tests/data/conftest.py checks before collecting this module.
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chicago_taxi" / "data.csv"


def test_chicago_taxi_sample_meets_its_spec(tmp_path: Path) -> None:
    spec = get_spec("chicago_taxi")
    summary = validate_data(DATA, spec, tmp_path / "report.html", tmp_path / "summary.json")

    assert summary.critical_failures == []
    assert summary.row_count >= spec.min_rows
    assert summary.column_count == len(spec.columns)
    assert summary.expectations_evaluated > 3 * len(spec.columns)
