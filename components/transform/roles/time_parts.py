"""Unix timestamps: hour of day, day of week and month (UTC), each an id of fixed cardinality."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common.feature_info import TransformedFeature
from components.common.specs.base import TimestampParts
from components.transform.roles.base import RawInputs, RoleTransform
from components.transform.roles.tensors import dense

TIME_PART_CARDINALITY = {"hour": 24, "weekday": 7, "month": 12}
SECONDS_PER_DAY = 86400


class TimestampPartsTransform(RoleTransform[TimestampParts]):
    def names(self, feature: TimestampParts) -> list[str]:
        return [f"{feature.column}_{part}" for part in feature.parts]

    def describe(self, feature: TimestampParts, tft_output: tft.TFTransformOutput) -> list[TransformedFeature]:
        return [
            TransformedFeature(name, "categorical", "int64", vocabulary_size=TIME_PART_CARDINALITY[part])
            for name, part in zip(self.names(feature), feature.parts)
        ]

    def apply(self, feature: TimestampParts, inputs: RawInputs) -> dict[str, tf.Tensor]:
        parts = time_parts(dense(inputs[feature.column], 0))
        return {name: parts[part] for name, part in zip(self.names(feature), feature.parts)}


def time_parts(seconds: tf.Tensor) -> dict[str, tf.Tensor]:
    """UTC hour, weekday (Monday = 0) and month (January = 0) of Unix seconds, as int64."""
    seconds = tf.cast(seconds, tf.int64)
    days = tf.math.floordiv(seconds, SECONDS_PER_DAY)
    hour = tf.math.floordiv(tf.math.floormod(seconds, SECONDS_PER_DAY), 3600)
    weekday = tf.math.floormod(days + 3, 7)  # 1970-01-01 was a Thursday
    # Civil-from-days (proleptic Gregorian calendar), month only.
    shifted = days + 719468
    era = tf.math.floordiv(shifted, 146097)
    day_of_era = shifted - era * 146097
    year_of_era = tf.math.floordiv(day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096, 365)
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    march_based_month = (5 * day_of_year + 2) // 153
    month = tf.where(march_based_month < 10, march_based_month + 2, march_based_month - 10)
    return {"hour": hour, "weekday": weekday, "month": month}
