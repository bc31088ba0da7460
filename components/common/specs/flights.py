"""US domestic flights, January to June 2001 (vega-datasets' flights-3m): will the departure be over 15 min late?

No file ships with the project: `python -m bench fetch` writes samples of 10k to 3M rows
under build/bench-cache/csv/ (see bench/flights.py); point DATA_URI at one of them.
"""

from components.common.specs.base import (
    Bucketized,
    Categorical,
    Column,
    DatasetSpec,
    Label,
    Numeric,
    TimestampParts,
)

JAN_2001, JUL_2001 = 978_307_200, 993_945_600


def delayed(raw):
    """1 when the departure delay exceeds 15 minutes (the US DOT's definition of a delayed flight)."""
    import tensorflow as tf

    return tf.cast(raw["delay"] > 15, tf.int64)


SPEC = DatasetSpec(
    name="flights",
    description="3,000,000 US flights, Jan-Jun 2001, from the npm package vega-datasets (data/flights-3m.parquet).",
    columns=(
        Column("departure_time", "int", min_value=JAN_2001, max_value=JUL_2001),
        # A few delays exceed a day (8 of the 3M, up to 1,688 min): rare, real, not worth failing the file for.
        Column("delay", "int", min_value=-1440, max_value=1440, range_mostly=0.9999),
        Column("distance", "int", min_value=1, max_value=6000),
        Column("origin", "string"),
        Column("destination", "string"),
    ),
    label=Label(
        name="delayed",
        source_columns=("delay",),
        outcome_columns=("delay",),
        derive=delayed,
        description="delay > 15 minutes",
    ),
    features=(
        Numeric("distance", log=True),
        Bucketized("distance", num_buckets=10),
        Categorical("origin", top_k=200),
        Categorical("destination", top_k=200),
        TimestampParts("departure_time", parts=("hour", "weekday", "month")),
    ),
    slice_columns=("origin",),
    min_rows=1000,
    # 22% of flights are delayed (always-on-time: accuracy 0.78, log loss 0.527); departure hour and airports
    # carry most of the signal. Each bound is beyond that prior.
    thresholds={"roc_auc": 0.6, "accuracy": 0.79, "log_loss": 0.5},
)
