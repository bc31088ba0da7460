"""Chicago taxi trips, the 18-column raw sample: will the rider tip more than 20% of the fare?"""

from components.common.specs.base import (
    Bucketized,
    Categorical,
    Column,
    DatasetSpec,
    Label,
    LatLongCross,
    Numeric,
    TimestampParts,
)

PAYMENT_TYPES = ("Cash", "Credit Card", "No Charge", "Unknown", "Dispute", "Pcard", "Prcard", "Mobile", "Prepaid")
CHICAGO_LATITUDE = (41.6, 42.1)
CHICAGO_LONGITUDE = (-88.0, -87.5)


def big_tipper(raw):
    """1 when tips exceed 20% of the fare; a row with no tip recorded is 0."""
    import tensorflow as tf

    tips = tf.where(tf.math.is_nan(raw["tips"]), tf.zeros_like(raw["tips"]), raw["tips"])
    fare = tf.where(tf.math.is_nan(raw["fare"]), tf.zeros_like(raw["fare"]), raw["fare"])
    return tf.cast(tips > 0.2 * fare, tf.int64)


SPEC = DatasetSpec(
    name="chicago_taxi",
    description="Chicago taxi trips (City of Chicago open data), raw 18 columns.",
    columns=(
        Column("pickup_community_area", "float", max_null_fraction=0.2, min_value=1, max_value=77),
        Column("fare", "float", max_null_fraction=0.01, min_value=0, max_value=1000, range_mostly=0.999),
        Column("trip_start_month", "int", min_value=1, max_value=12),
        Column("trip_start_hour", "int", min_value=0, max_value=23),
        Column("trip_start_day", "int", min_value=1, max_value=7),
        Column("trip_start_timestamp", "int", min_value=1.2e9, max_value=2.0e9),
        Column(
            "pickup_latitude",
            "float",
            max_null_fraction=0.2,
            min_value=CHICAGO_LATITUDE[0],
            max_value=CHICAGO_LATITUDE[1],
        ),
        Column(
            "pickup_longitude",
            "float",
            max_null_fraction=0.2,
            min_value=CHICAGO_LONGITUDE[0],
            max_value=CHICAGO_LONGITUDE[1],
        ),
        Column(
            "dropoff_latitude",
            "float",
            max_null_fraction=0.2,
            min_value=CHICAGO_LATITUDE[0],
            max_value=CHICAGO_LATITUDE[1],
        ),
        Column(
            "dropoff_longitude",
            "float",
            max_null_fraction=0.2,
            min_value=CHICAGO_LONGITUDE[0],
            max_value=CHICAGO_LONGITUDE[1],
        ),
        Column("trip_miles", "float", min_value=0, max_value=2000, range_mostly=0.999),
        Column("pickup_census_tract", "float", max_null_fraction=1.0, severity="warning"),
        Column("dropoff_census_tract", "float", max_null_fraction=0.5, severity="warning"),
        Column("payment_type", "string", allowed_values=PAYMENT_TYPES, allowed_mostly=0.99),
        Column("company", "string", max_null_fraction=0.6),
        Column("trip_seconds", "float", max_null_fraction=0.01, min_value=0, max_value=86400, range_mostly=0.999),
        Column("dropoff_community_area", "float", max_null_fraction=0.2, min_value=1, max_value=77),
        Column("tips", "float", max_null_fraction=0.01, min_value=0, max_value=1000),
    ),
    label=Label(
        name="big_tipper",
        source_columns=("tips", "fare"),
        outcome_columns=("tips",),
        derive=big_tipper,
        description="tips > 0.2 * fare",
    ),
    features=(
        Numeric("fare", log=True),
        Numeric("trip_miles", log=True),
        Numeric("trip_seconds", log=True),
        Bucketized("trip_miles", num_buckets=10),
        Categorical("payment_type"),
        Categorical("company", top_k=30),
        Categorical("trip_start_hour"),
        Categorical("trip_start_day"),
        Categorical("trip_start_month"),
        Categorical("pickup_community_area"),
        Categorical("dropoff_community_area"),
        TimestampParts("trip_start_timestamp", parts=("hour", "weekday")),
        LatLongCross("pickup_cell", "pickup_latitude", "pickup_longitude", num_buckets=10),
        LatLongCross("dropoff_cell", "dropoff_latitude", "dropoff_longitude", num_buckets=10),
    ),
    slice_columns=("payment_type", "trip_start_day"),
    min_rows=1000,
    thresholds={"roc_auc": 0.93, "accuracy": 0.85, "log_loss": 0.4},
)
