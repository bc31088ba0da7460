"""python -m bench.sweep: a few builder configurations over every bundled dataset, ranked by the mean gap
to the gradient-boosted tree (bench/quality.py's results), to choose the defaults (docs/models.md).

One set of defaults for all datasets, not one per dataset: each configuration trains on the transform
output the quality bench left (the same rows, the same split, one transform per dataset shared by every
configuration), and its headline metric is compared with that run's tree.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.measure import write_json
from bench.plan import RESULTS, WORK
from bench.quality import ROWS_CAP, prepare, train_pipeline_model
from components.train.hyperparameters import Hyperparameters, batch_size_for
from components.transform.layout import TRAIN
from components.transform.rows import splits_of_buckets, value_buckets

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "64-32, dropout 0.1, patience 3": {},
    "128-64, dropout 0.1, patience 3": {"hidden_units": (128, 64)},
    "128-64, dropout 0.2, patience 5": {"hidden_units": (128, 64), "dropout": 0.2, "early_stopping_patience": 5},
    "256-128, dropout 0.3, patience 5": {"hidden_units": (256, 128), "dropout": 0.3, "early_stopping_patience": 5},
    "64-32, dropout 0.1, patience 3, cosine": {"lr_schedule": "cosine"},
    "64-32, dropout 0.1, patience 5, cosine": {"lr_schedule": "cosine", "early_stopping_patience": 5},
    "64-32, dropout 0.1, patience 3, batch 64": {"batch_size": 64},
    # The batch rule with more steps an epoch (components.train.hyperparameters.batch_size_for).
    "64-32, dropout 0.1, patience 3, 32 steps an epoch": {"steps_per_epoch": 32},
}


def hyperparameters_of(changes: dict[str, Any], prepared: Any, seed: int = 0) -> Hyperparameters:
    """The defaults with a configuration's changes; `steps_per_epoch` sets the batch by the batch rule
    with that many steps, from the dataset's train rows (as the transform splits them)."""
    changes = dict(changes)
    steps = changes.pop("steps_per_epoch", None)
    if steps is not None:
        import pyarrow.parquet as pq

        table = pq.read_table(prepared.work / "data.parquet")
        spec = prepared.spec
        buckets = value_buckets(table, spec.column_names)
        splits = splits_of_buckets(buckets, spec.eval_fraction, spec.validation_fraction)
        changes["batch_size"] = batch_size_for(int((splits == TRAIN).sum()), steps)
    return replace(Hyperparameters(seed=seed), **changes)


def sweep(
    quality: dict[str, Any], names: list[str], datasets: list[str], result: Path, seed: int = 0
) -> list[dict[str, Any]]:
    """Each configuration on each dataset of the quality run (dataset by dataset: one transform each);
    the gap is the metric less the tree's. Written after every training, so a cut-off sweep keeps its rows."""
    trees = {row["dataset"]: row["tree"] for row in quality["rows"]}
    unknown = sorted(set(names) - set(CONFIGURATIONS)) + sorted(set(datasets) - set(trees))
    if unknown:
        raise ValueError(f"not a configuration or not in the quality run: {unknown}")
    rows: dict[str, dict[str, Any]] = {name: {"configuration": name, "gaps": {}, "metrics": {}} for name in names}
    load = os.getloadavg()
    for dataset in datasets:
        prepared = prepare(dataset, WORK / "quality" / dataset, quality.get("rows_cap", ROWS_CAP), reuse=True)
        for name in names:
            hyperparameters = hyperparameters_of(CONFIGURATIONS[name], prepared, seed)
            # A model folder per configuration: sweeps of other configurations may run beside this one.
            trained = train_pipeline_model(prepared, hyperparameters, f"model-sweep-{list(CONFIGURATIONS).index(name)}")
            row = rows[name]
            row["metrics"][dataset] = {"metric": trained["metric"], "epochs": trained["epochs"]}
            row["gaps"][dataset] = trained["metric"] - trees[dataset]
            row["mean_gap"] = sum(row["gaps"].values()) / len(row["gaps"])
            print(name, dataset, round(trained["metric"], 4), round(row["gaps"][dataset], 4), flush=True)
            payload = {"seed": seed, "load_average_at_start": load, "load_average_now": os.getloadavg()}
            write_json(result, {**payload, "rows": list(rows.values())})
    return list(rows.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    parser.add_argument("--quality", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--configurations", default=";".join(CONFIGURATIONS), help="names, ;-separated")
    parser.add_argument("--datasets", default="", help="of the quality run, ,-separated (empty: all of them)")
    parser.add_argument("--seed", type=int, default=0, help="every configuration's seed")
    parser.add_argument("--result", type=Path, default=RESULTS / "sweep.json")
    args = parser.parse_args(argv)
    quality = json.loads(args.quality.read_text())
    datasets = args.datasets.split(",") if args.datasets else [row["dataset"] for row in quality["rows"]]
    sweep(quality, args.configurations.split(";"), datasets, args.result, args.seed)


if __name__ == "__main__":
    main()
