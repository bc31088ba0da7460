"""python -m bench.sweep: a few builder configurations over every bundled dataset, ranked by the mean gap
to the gradient-boosted tree (bench/quality.py's results), to choose the defaults (docs/models.md).

One set of defaults for all datasets, not one per dataset: each configuration trains on the transform
output the quality bench left (the same rows, the same split), and its headline metric is compared
with that run's tree.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.measure import write_json
from bench.plan import RESULTS, WORK
from bench.quality import ROWS_CAP, prepare, train_pipeline_model
from components.train.hyperparameters import Hyperparameters

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "64-32, dropout 0.1, patience 3": {},
    "128-64, dropout 0.1, patience 3": {"hidden_units": (128, 64)},
    "128-64, dropout 0.2, patience 5": {"hidden_units": (128, 64), "dropout": 0.2, "early_stopping_patience": 5},
    "256-128, dropout 0.3, patience 5": {"hidden_units": (256, 128), "dropout": 0.3, "early_stopping_patience": 5},
}


def sweep(quality: dict[str, Any], names: list[str], result: Path) -> list[dict[str, Any]]:
    """Each configuration on every dataset of the quality run; the gap is the metric less the tree's."""
    trees = {row["dataset"]: row["tree"] for row in quality["rows"]}
    rows: list[dict[str, Any]] = []
    for name in names:
        changes = CONFIGURATIONS[name]
        gaps = {}
        for dataset, tree in trees.items():
            prepared = prepare(dataset, WORK / "quality" / dataset, quality.get("rows_cap", ROWS_CAP), reuse=True)
            metric = train_pipeline_model(prepared, replace(Hyperparameters(), **changes), "model-sweep")["metric"]
            gaps[dataset] = metric - tree
            print(name, dataset, round(metric, 4), round(gaps[dataset], 4), flush=True)
        rows.append({"configuration": name, "gaps": gaps, "mean_gap": sum(gaps.values()) / len(gaps)})
        write_json(result, {"rows": rows})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    parser.add_argument("--quality", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--configurations", default=";".join(CONFIGURATIONS), help="names, ;-separated")
    parser.add_argument("--result", type=Path, default=RESULTS / "sweep.json")
    args = parser.parse_args(argv)
    sweep(json.loads(args.quality.read_text()), args.configurations.split(";"), args.result)


if __name__ == "__main__":
    main()
