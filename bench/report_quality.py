"""BENCHMARKS.md's model-quality section: the pipeline's model against a gradient-boosted tree, per dataset."""

from __future__ import annotations

from typing import Any

from bench.quality import AMES_R2, TOLERANCE
from bench.report_format import table

LABELS = {"roc_auc": "ROC AUC", "accuracy": "accuracy", "r2": "R²"}


def quality_section(data: dict[str, Any]) -> str:
    rows = [
        [
            r["dataset"],
            f"{r['rows']:,} ({r['eval_rows']:,} eval)",
            LABELS.get(r["metric"], r["metric"]),
            f"{r['tree']:.3f}",
            f"{r['pipeline']:.3f}",
            f"{r['pipeline'] - r['tree']:+.3f}",
            "no number" if r.get("pipeline_z_only") is None else f"{r['pipeline_z_only']:.3f}",
            f"{r['tree_s']:.1f}",
            f"{r['pipeline_s']:.0f} ({r['transform_s']:.0f} + {r['pipeline_s'] - r['transform_s']:.0f})",
            f"{r['time_ratio']:.0f}x",
            r["verdict"],
        ]
        for r in data["rows"]
    ]
    header = [
        "dataset",
        "rows",
        "metric",
        "tree",
        "pipeline",
        "gap",
        "pipeline, z only",
        "tree s",
        "pipeline s (transform + train)",
        "time ratio",
        "verdict",
    ]
    load = ", ".join(f"{value:.1f}" for value in data["load_average_at_start"])
    cap = f"at most {data['rows_cap']:,} rows each (a fixed sample), " if data.get("rows_cap") else ""
    return f"""## Model quality: the pipeline's model against a gradient-boosted tree (issue 24)

Every bundled dataset, {cap}split as the transform splits it; the tree (scikit-learn's
HistGradientBoosting, defaults) on the raw columns of the same train and validation rows, categorical
features as categories, a text as its 256 most frequent words; both scored on the same eval rows, on the
original scale (`bench/quality.py`). Verdict: the pipeline within {TOLERANCE} of the tree or better, and ames'
R² at least {AMES_R2}. "z only" is the same model trained on the same transform output with each number's
z-score alone (`encoding="z"`, before issue 24); "no number" where the dataset has no numeric feature.
The pipeline's time is the real transform (DirectRunner) and train code in one process;
the tree's is its fit and predict. Load average (1, 5, 15 min) at the start: {load}.

{table(header, rows)}

Reproduce: `.venv/bin/python -m bench quality` (then `python -m bench report`)
"""
