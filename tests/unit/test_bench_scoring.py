"""bench/scoring.py without measuring: the input it writes, and the section it renders from known figures."""

from __future__ import annotations

import pandas as pd

from bench.scoring import scoring_section, write_input


def test_the_input_is_the_rows_repeated_without_the_label(tmp_path):
    source = tmp_path / "taxi.csv"
    pd.DataFrame({"tip": [0, 1, 0], "fare": ["1.5", "", "3"], "company": ["a", "b", "NA"]}).to_csv(source, index=False)
    written = write_input(source, 7, tmp_path / "input.csv")
    lines = written.read_text().splitlines()
    assert lines[0] == "fare,company" and len(lines) == 8
    assert lines[1:4] == ["1.5,a", ",b", "3,NA"] and lines[4:8] == ["1.5,a", ",b", "3,NA", "1.5,a"]


def test_the_section_sets_scoring_beside_the_server_and_judges_the_target():
    data = {
        "scale": "default",
        "dataset": "modeldata_taxi",
        "cores": 2,
        "runs": [
            {"size": 1_000_000, "step_s": 100.0, "wall_s": 110.0, "peak_rss_mb": 1200.0},
            {"size": 100_000, "step_s": 20.0, "validate_s": 12.5, "score_s": 7.5, "wall_s": 30.0, "peak_rss_mb": 1e3},
        ],
        "http": {"256": {"p50_ms": 256.0, "p99_ms": 300.0, "calls": 100}},
        "load_average_at_start": [3.0, 2.0, 1.0],
        "load_average_at_end": [2.5, 2.0, 1.0],
    }
    text = scoring_section(data)
    assert "| 100,000 | 20.0 | 12.5 | 7.5 | 5,000 | 30.0 | 1,000 |" in text
    assert "| 1,000,000 | 100.0 | — | — | 10,000 | 110.0 | 1,200 |" in text
    assert "p50 256.0 ms, 1,000 rows/s" in text
    assert "10.0× the server's rows/s (target ≥ 10×: met)" in text and "Peak memory 1.20× for\n10× the rows" in text
    assert "Reproduce: `BENCH_SCALE=default .venv/bin/python -m bench scoring`" in text
    # Results without the child runs' seconds, and a server twice as fast: no empty columns, the target missed.
    small = {"size": 100_000, "step_s": 20.0, "wall_s": 30.0, "peak_rss_mb": 1e3}
    older = {**data, "runs": [data["runs"][0], small], "http": {"256": {"p50_ms": 128.0, "calls": 100}}}
    text = scoring_section(older)
    assert "(target ≥ 10×: MISSED)" in text and "| 1,000,000 | 100.0 | 10,000 | 110.0 | 1,200 |" in text
    assert "of it validate s" not in text
