"""The before/after comparison's pure parts: the step lines it reads, the environment each side runs in, its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.compare import Runner, Variant, step_walls
from bench.compare_report import compare_section


def test_step_walls_reads_the_lines_a_run_prints(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(
        "validate   ok        5.5s  10,000 rows validated\n"
        "transform  started\n"
        "transform  ok       1m10s  rows per split: train 6,959\n"
        "evaluate   FAILED    2.0s  boom\n"
        "  gate FAIL: log_loss 0.2810 <= 0.2800\n",
        encoding="utf-8",
    )
    assert step_walls(log) == {"validate": 5.5, "transform": 70.0}


def test_an_uncompiled_side_finds_no_bytecode_of_installed_packages(tmp_path: Path) -> None:
    """The prefix holds no compiled packages, so a package import compiles its sources: Python says so."""
    runner = Runner(tmp_path, tmp_path / "empty-cache")
    tree = tmp_path / "tree"
    (tree / "probe_package").mkdir(parents=True)
    (tree / "probe_package" / "__init__.py").write_text("VALUE = 1\n")
    env = runner.env(Variant("before", tree, compiled=False))
    assert env["PYTHONPATH"] == str(tree) and env["PYTHONDONTWRITEBYTECODE"] == "1"
    probe = "import sys, probe_package; print(sys.pycache_prefix, probe_package.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tree, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(tmp_path / "empty-cache"), str(tree / "probe_package" / "__init__.py")]
    assert not list((tmp_path / "empty-cache").rglob("*.pyc")), "nothing is written when bytecode is off"
    assert "PYTHONPYCACHEPREFIX" not in runner.env(Variant("after", tree, compiled=True))


def _run(wall: float, peak: float, auc: float | None = 0.951) -> dict:
    steps = {step: {"wall_s": wall / 6, "peak_rss_mb": peak} for step in ("validate", "transform", "train")}
    return {"wall_s": wall, "cpu_s": wall, "peak_rss_mb": peak, "roc_auc": auc, "steps": steps}


def test_the_report_gives_each_target_its_verdict_and_the_reason_a_missed_one_was_missed() -> None:
    epoch = {"rows": 720_000, "work_s": 10.0, "peak_rss_mb": 900}
    data = {
        "baseline": "abc123",
        "load_average_at_start": [0.5, 0.7, 1.0],
        "load_average_at_end": [1.5, 1.2, 1.1],
        "flights_rows": 1_000_000,
        "startup": {variant: {"train": [4.0, 5.0]} for variant in ("before", "before, compiled", "after")},
        "runs": {
            "chicago_taxi / before": [_run(110.0, 1200)],
            "chicago_taxi / before, compiled": [_run(70.0, 1190)],
            "chicago_taxi / after": [_run(55.0, 1000), _run(57.0, 1010)],
            "modeldata_taxi / before": [_run(80.0, 1100)],
            "modeldata_taxi / after": [_run(62.0, 1000)],
        },
        "transform": {
            "before, compiled": [{"rows": 1e6, "work_s": 100.0, "peak_rss_mb": 1300}],
            "after": [{"rows": 1e6, "work_s": 40.0, "peak_rss_mb": 1000}],
        },
        "train": {"before, compiled": [{**epoch, "work_s": 76.0}], "after": [epoch]},
        "input": {
            "after": [
                {
                    "examples": 720_000,
                    "runs": {"tf.data": {"examples_per_s": [95.0, 97.0]}, "in-memory": {"examples_per_s": [100.0]}},
                }
            ]
        },
    }
    text = compare_section(data, {"make run, default dataset": "MLflow's first store creation."})
    verdicts = {
        line.split(" | ")[0].lstrip("| "): line.rsplit(" | ", 2)[1:]
        for line in text.splitlines()
        if " → " in line or "lowest run" in line
    }
    assert verdicts["make run, Chicago taxi"] == ["110.0 → 56.0 s", "met |"]
    assert verdicts["make run, default dataset"] == ["80.0 → 62.0 s", "**missed** |"]
    assert verdicts["transform rows/s at 1,000,000 rows"] == ["10,000 → 25,000 (2.5×)", "met |"]
    assert "- **make run, default dataset**: MLflow's first store creation." in text
    assert (
        "one training epoch at 1,000,000 rows (CPU) | ≥ 47,285 examples/s (5× the 9,457 of the issue) | "
        "9,474 → 72,000 examples/s (7.6× 9,457); 7.6× the baseline's run | met"
    ) in text
    assert "tf.data path vs in-memory bound (CPU) | ≥ 90% | 96% | met" in text
    assert "1.5, 1.2, 1.1" in text
