"""A tiny synthetic binary dataset ("big baskets of red items sell") for the scale-out tests.

Its own module, importing only TensorFlow and the spec vocabulary, so that worker processes and trial
processes, which find the spec as `shop_spec:SPEC`, start quickly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import tensorflow as tf

from components.common.specs.base import Categorical, Column, DatasetSpec, Label, Numeric

SPEC_REFERENCE = "shop_spec:SPEC"


def bought(raw):
    return tf.cast(tf.equal(raw["bought"], "yes"), tf.int64)


SPEC = DatasetSpec(
    name="shop",
    description="synthetic: big baskets of red items sell",
    columns=(
        Column("basket", "float", max_null_fraction=0.2),
        Column("colour", "string"),
        Column("bought", "string", allowed_values=("yes", "no")),
    ),
    label=Label("bought", ("bought",), ("bought",), bought, 'bought == "yes"'),
    features=(Numeric("basket", log=True), Categorical("colour")),
    slice_columns=("colour",),
    min_rows=10,
    thresholds={"roc_auc": 0.5},
)


def rows(count: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(count):
        basket = rng.uniform(0, 10)
        colour = rng.choice(["red", "blue", "green"])
        score = basket / 10 + (0.4 if colour == "red" else 0) + rng.normal(0, 0.15)
        made.append([f"{basket:.2f}", colour, "yes" if score > 0.7 else "no"])
    return made


def write_csv(path: Path, count: int, seed: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SPEC.column_names)
        writer.writerows(rows(count, seed))
    return path
