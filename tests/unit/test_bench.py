"""The benchmark harness's pure parts: growth fit, spreads, tables, flights reader, report, batched validation."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.flights import COLUMNS, read_flights, write_samples
from bench.measure import Spread, growth_exponent
from bench.pipeline import step_of
from bench.report import write_report
from bench.report_format import fmt, table
from components.common.specs import get_spec
from components.common.specs.base import Column, DatasetSpec, Label, Numeric
from components.validate.report import outcome_of
from components.validate.suite import build_suite, run_suite, run_suite_on_chunks


def test_growth_exponent_recovers_a_power_law() -> None:
    rows = [1e4, 1e5, 1e6, 3e6]
    assert growth_exponent(rows, [2.0 * n**1.5 for n in rows]) == pytest.approx(1.5)
    assert growth_exponent(rows, [7.0] * 4) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="two sizes"):
        growth_exponent([1e4], [1.0])


def test_spread_and_its_text() -> None:
    spread = Spread.of([3.0, 1.0, 2.0])
    assert (spread.median, spread.low, spread.high, spread.n) == (2.0, 1.0, 3.0, 3)
    assert fmt(spread) == "2.0 (1.0–3.0)"
    assert fmt(Spread.of([1234.5]), 0) == "1,234 (n=1)"


def test_table_renders_markdown() -> None:
    assert table(["a", "b"], [[1, "x"], [2, "y"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2 | y |"]


def test_step_of_reads_the_kfp_executor_command_line() -> None:
    argv = ["python3", "-m", "kfp.dsl.executor_main", "--executor_input", "{}", "--function_to_execute", "train"]
    assert step_of(argv) == "train"
    assert step_of(["python3", "-m", "pytest"]) is None


def test_flights_reader_and_nested_samples(tmp_path: Path) -> None:
    parquet = tmp_path / "flights.parquet"
    dates = [datetime(2001, 1, 1, 0, 1), datetime(2001, 3, 5, 17, 30), datetime(2001, 6, 30, 23, 59)]
    pq.write_table(
        pa.table(
            {
                "date": pa.array(dates, pa.timestamp("us")),
                "delay": [33, -4, 0],
                "distance": [2176, 215, 405],
                "origin": pa.array(["LAS", "ATL", "MCI"], pa.large_string()),
                "destination": pa.array(["PHL", "SAV", "MDW"], pa.large_string()),
            }
        ),
        parquet,
    )
    table_ = read_flights(parquet)
    assert table_.column_names == list(COLUMNS) == get_spec("flights").column_names
    assert table_["departure_time"].to_pylist()[0] == 978307260  # 2001-01-01 00:01 as Unix seconds
    paths = write_samples(table_, [2, 3], tmp_path / "csv")
    small, large = (pd.read_csv(paths[size]) for size in (2, 3))
    assert list(small.columns) == list(COLUMNS) and len(small) == 2 and len(large) == 3
    assert small.equals(large.head(2))  # one shuffle: smaller samples nest in larger ones
    with pytest.raises(ValueError, match="has 3"):
        write_samples(table_, [4], tmp_path / "csv")


def test_report_renders_every_section_and_the_missing_gpu(tmp_path: Path) -> None:
    step = {"wall_s": 10.0, "cpu_s": 8.0, "peak_rss_mb": 500.0}
    work = {"work_s": 4.0, "work_cpu_s": 4.0, "peak_rss_mb": 600.0}
    kfp = {"runner": "kfp.local", **step, "wall_s": 60.0, "roc_auc": 0.95, "steps": {"validate": step}}
    one = {
        "runner": "one process",
        **step,
        "wall_s": 30.0,
        "import_s": 9.0,
        "roc_auc": 0.96,
        "steps": {"validate": work},
    }
    point = {"dataset": "flights", "stage": "validate", "wall_s": 9.0, "peak_rss_mb": 400.0}
    paths = {"tf.data": {"examples_per_s": [90.0]}, "in-memory": {"examples_per_s": [100.0]}}
    latency = {"p50_ms": 1.0, "p99_ms": 2.0, "calls": 5}
    results = {
        "pipeline": {"scale": "small", "dataset": "chicago_taxi", "runs": [kfp, one]},
        "scaling": {
            "scale": "small",
            "points": [{**point, "size": n, "rows": n, "work_s": n / 1e5} for n in (10_000, 100_000)],
        },
        "input_cpu": {
            "scale": "small",
            "rows": 100,
            "runs": [{"device": "CPU", "mixed_precision": False, "runs": paths}],
        },
        "serving": {"scale": "small", "runs": [{"1": latency, "256": latency}]},
    }
    for name, payload in results.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(payload))
    text = write_report(tmp_path, tmp_path / "BENCHMARKS.md").read_text()
    for section in ("pipeline", "scaling", "input", "serving"):
        assert f"Reproduce: `BENCH_SCALE=small .venv/bin/python -m bench {section}`" in text
    assert "**Orchestration overhead** (1 − one-process wall / kfp.local wall): **50%**; by CPU time" in text
    assert "not measured: no GPU lent" in text
    assert "| validate | 10,000–100,000 | 1.00 | 1.00 | 0.00 | 400 → 400 |" in text
    assert "| tf.data path vs in-memory bound (CPU) | ≥ 90% | 90% | met |" in text
    assert (tmp_path / "pipeline.png").stat().st_size > 0 and (tmp_path / "scaling.png").stat().st_size > 0


SMALL = DatasetSpec(
    name="small",
    description="Per-row expectations with `mostly`, to compare batched and whole-file validation.",
    columns=(
        Column("x", "float", min_value=0, max_value=10, range_mostly=0.8),
        Column("c", "string", max_null_fraction=0.3, allowed_values=("a", "b"), allowed_mostly=0.75),
    ),
    label=Label("y", ("x",), ("x",), derive=lambda raw: raw["x"], description="unused"),
    features=(Numeric("c"),),
    slice_columns=("c",),
    min_rows=30,
    thresholds={"roc_auc": 0.5, "accuracy": 0.5, "log_loss": 1.0},
)


def test_batched_validation_judges_mostly_on_the_whole_file() -> None:
    # 40 rows: 15% of x out of range (passes 80%), c 20% null and 30% of non-null outside {a, b} (fails 75%).
    frame = pd.DataFrame(
        {
            "x": [20.0 if i % 20 in (0, 1, 2) else 1.0 for i in range(40)],
            "c": [None if i % 5 == 0 else ("z" if i % 10 in (1, 3, 7) else "a") for i in range(40)],
        }
    )
    suite = build_suite(SMALL)
    whole = [outcome_of(result) for result in run_suite(frame, suite)]
    run = run_suite_on_chunks([frame.iloc[:7], frame.iloc[7:25], frame.iloc[25:]], suite)
    batched = [outcome_of(result) for result in run.results]
    assert (run.row_count, run.columns) == (40, ["x", "c"])
    assert [(o.expectation, o.column, o.success) for o in batched] == [
        (o.expectation, o.column, o.success) for o in whole
    ]
    assert [o.observed.split(" (e.g.")[0] for o in batched] == [o.observed.split(" (e.g.")[0] for o in whole]
    verdicts = {(o.column, o.expectation): o.success for o in batched}
    assert verdicts[("x", "expect_column_values_to_be_between")] is True
    assert verdicts[("c", "expect_column_values_to_not_be_null")] is True
    assert verdicts[("c", "expect_column_values_to_be_in_set")] is False
