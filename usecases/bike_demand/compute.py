"""The Spark job of each bike-demand feature table and the label rule, with the publication rule of `features`.

Each job reads the bronze lookback it needs and returns the rows of every logical day in [first, last] in one
job (`feature_date` is the published day X that produces them). A trailing window is built by fanning each
bronze row out to the snapshot days whose window contains it (`X = date + lag`, lag 0 .. window - 1) and
grouping by X: no row of a day after X can reach snapshot X, which is the point-in-time guarantee.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from mlops.features.catalog import FeatureTable
from mlops.features.refresh import read_bronze
from usecases.bike_demand.datasets import CALENDAR, RIDES, TIME_ZONE, WEATHER, WET_SITUATIONS
from usecases.bike_demand.features import (
    DAILY_DEMAND,
    DAILY_WEATHER,
    DAILY_WINDOWS_DAYS,
    FORECAST_HOURS,
    HOUR_PROFILE,
    HOUR_WINDOW_DAYS,
    KEY_DTYPES,
    WEEKDAY_HOUR_PROFILE,
    WEEKDAY_WINDOW_WEEKS,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse


def local_midnight(day: Column) -> Column:
    """00:00 Washington DC time of a date column, as a UTC timestamp (the session time zone is UTC)."""
    from pyspark.sql import functions as F

    return F.to_utc_timestamp(day.cast("timestamp"), TIME_ZONE)


def published_at(day: Column) -> Column:
    """When a day's data is published: 00:00 local of the next day, UTC."""
    from pyspark.sql import functions as F

    return local_midnight(F.date_add(day, 1))


def stored_columns(df: DataFrame, table: FeatureTable) -> DataFrame:
    """The table's columns in storage order with their registered types."""
    from pyspark.sql import functions as F

    by_feature = {f.name: f.dtype for f in table.features}
    return df.select(*[F.col(c).cast(by_feature.get(c) or KEY_DTYPES[c]).alias(c) for c in table.columns])


def _fan_out(frame: DataFrame, lags: list[int], first: date, last: date) -> DataFrame:
    """Each row once per snapshot day X = date + lag in [first, last] whose window holds it (column `lag`)."""
    from pyspark.sql import functions as F

    fanned = frame.withColumn("lag", F.explode(F.array(*[F.lit(n) for n in lags])))
    fanned = fanned.withColumn("feature_date", F.date_add(F.col("date"), F.col("lag")))
    return fanned.where(F.col("feature_date").between(F.lit(first), F.lit(last)))


def _published(snapshots: DataFrame, source: DataFrame) -> DataFrame:
    """Only the snapshots of days that were published (a day with no rows publishes nothing), with feature_ts."""
    from pyspark.sql import functions as F

    days = source.select(F.col("date").alias("feature_date")).distinct()
    return snapshots.join(days, "feature_date").withColumn("feature_ts", published_at(F.col("feature_date")))


# ---- entities ---------------------------------------------------------------------------------
def forecast_hours_range(calendar: DataFrame, first: date, last: date) -> DataFrame:
    """Every local hour of the days [first, last] of the calendar, with its forecast time and calendar facts."""
    from pyspark.sql import functions as F

    day = F.make_date("year", "month", "day")
    rows = calendar.where(day.between(F.lit(first), F.lit(last))).select(
        "year",
        "month",
        "day",
        "holiday",
        "workingday",
        day.alias("feature_date"),
        F.explode(F.sequence(F.lit(0), F.lit(23))).alias("hour"),
    )
    wall_clock = F.make_timestamp("year", "month", "day", "hour", F.lit(0), F.lit(0))
    rows = rows.withColumn("target_ts", F.to_utc_timestamp(wall_clock, TIME_ZONE))
    exists = F.hour(F.from_utc_timestamp("target_ts", TIME_ZONE)) == F.col("hour")  # not the skipped spring hour
    rows = rows.where(exists).select(
        "*",
        local_midnight(F.col("feature_date")).alias("prediction_ts"),
        F.weekday("feature_date").alias("day_of_week"),
    )
    return stored_columns(rows, FORECAST_HOURS)


# ---- trailing demand --------------------------------------------------------------------------
def hour_profile_range(rides: DataFrame, first: date, last: date) -> DataFrame:
    """Per local hour: riders of the latest published day and over the last HOUR_WINDOW_DAYS days."""
    from pyspark.sql import functions as F

    fanned = _fan_out(rides, list(range(HOUR_WINDOW_DAYS)), first, last)
    snapshots = fanned.groupBy("feature_date", "hour").agg(
        F.max(F.when(F.col("lag") == 0, F.col("bikers"))).alias("riders_hour_last_1d"),
        F.avg("bikers").alias("riders_hour_mean_7d"),
        _share(F.sum("casual"), F.sum("bikers")).alias("casual_share_hour_7d"),
    )
    return stored_columns(_published(snapshots, rides), HOUR_PROFILE)


def weekday_hour_profile_range(rides: DataFrame, first: date, last: date) -> DataFrame:
    """Per (weekday, local hour) of each published day: its riders, and the mean over the last 4 same weekdays."""
    from pyspark.sql import functions as F

    fanned = _fan_out(rides, [7 * w for w in range(WEEKDAY_WINDOW_WEEKS)], first, last)
    snapshots = fanned.groupBy("feature_date", "hour").agg(
        F.max(F.when(F.col("lag") == 0, F.col("bikers"))).alias("riders_week_ago"),
        F.avg("bikers").alias("riders_weekday_hour_mean_4w"),
    )
    snapshots = snapshots.withColumn("day_of_week", F.weekday("feature_date"))
    return stored_columns(_published(snapshots, rides), WEEKDAY_HOUR_PROFILE)


def daily_demand_range(rides: DataFrame, first: date, last: date) -> DataFrame:
    """System-wide riders of the latest published day and the trailing daily means."""
    from pyspark.sql import functions as F

    days = rides.groupBy("date").agg(F.sum("bikers").alias("riders"), F.sum("casual").alias("casual"))
    short, long = DAILY_WINDOWS_DAYS
    fanned = _fan_out(days, list(range(long)), first, last)
    recent = F.col("lag") < short
    snapshots = fanned.groupBy("feature_date").agg(
        F.max(F.when(F.col("lag") == 0, F.col("riders"))).alias("riders_day_1d"),
        F.avg(F.when(recent, F.col("riders"))).alias("riders_day_mean_7d"),
        F.avg("riders").alias("riders_day_mean_28d"),
        _share(F.sum(F.when(recent, F.col("casual"))), F.sum(F.when(recent, F.col("riders")))).alias("casual_share_7d"),
    )
    return stored_columns(_published(snapshots, rides), DAILY_DEMAND)


def _share(part: Column, whole: Column) -> Column:
    from pyspark.sql import functions as F

    return F.when(whole > 0, part / whole)


# ---- observed weather -------------------------------------------------------------------------
def daily_weather_range(weather: DataFrame, first: date, last: date) -> DataFrame:
    """Observed weather of the latest published day (means, last hour, wet hours) and over the last 7 days."""
    from pyspark.sql import functions as F

    wet = F.col("weathersit").isin(*WET_SITUATIONS).cast("long")
    days = weather.groupBy("date").agg(
        F.avg("temp").alias("temp"),
        F.max_by("temp", "time_hour").alias("temp_last"),
        F.avg("hum").alias("hum"),
        F.avg("windspeed").alias("windspeed"),
        F.sum(wet).alias("wet_hours"),
    )
    fanned = _fan_out(days, list(range(DAILY_WINDOWS_DAYS[0])), first, last)
    latest = F.col("lag") == 0
    snapshots = fanned.groupBy("feature_date").agg(
        F.max(F.when(latest, F.col("temp"))).alias("temp_mean_1d"),
        F.max(F.when(latest, F.col("temp_last"))).alias("temp_last"),
        F.avg("temp").alias("temp_mean_7d"),
        F.max(F.when(latest, F.col("hum"))).alias("hum_mean_1d"),
        F.max(F.when(latest, F.col("windspeed"))).alias("windspeed_mean_1d"),
        F.max(F.when(latest, F.col("wet_hours"))).alias("wet_hours_1d"),
        F.sum("wet_hours").alias("wet_hours_7d"),
    )
    return stored_columns(_published(snapshots, weather), DAILY_WEATHER)


# ---- labels -----------------------------------------------------------------------------------
def rider_labels(rides: DataFrame) -> DataFrame:
    """Riders of each local hour (`riders`, double) and when they became known: the day's publication."""
    from pyspark.sql import functions as F

    known = published_at(F.make_date("year", "month", "day"))
    return rides.select(
        "year", "month", "day", "hour", F.col("bikers").cast("double").alias("riders"), known.alias("label_known_ts")
    )


# ---- jobs: (spark, lakehouse, settings, first, last) -> rows of every day of [first, last] ----------
def _job(table: FeatureTable, source: str, lookback_days: int, build):  # noqa: ANN001, ANN202 - a FeatureJob
    def compute(spark: SparkSession, lakehouse: Lakehouse, settings: Settings, first: date, last: date) -> DataFrame:
        if source == CALENDAR.bronze_table:  # a whole-year snapshot, merged on its keys: no date partitions
            return build(lakehouse.read_spark(spark, source), first, last)
        return build(read_bronze(spark, lakehouse, source, first - timedelta(days=lookback_days), last), first, last)

    compute.__name__ = f"compute_{table.short_name}"
    compute.__doc__ = f"{table.name}: {table.description}"
    return compute


RANGE_JOBS = {
    FORECAST_HOURS.name: _job(FORECAST_HOURS, CALENDAR.bronze_table, 0, forecast_hours_range),
    HOUR_PROFILE.name: _job(HOUR_PROFILE, RIDES.bronze_table, HOUR_WINDOW_DAYS - 1, hour_profile_range),
    WEEKDAY_HOUR_PROFILE.name: _job(
        WEEKDAY_HOUR_PROFILE, RIDES.bronze_table, 7 * (WEEKDAY_WINDOW_WEEKS - 1), weekday_hour_profile_range
    ),
    DAILY_DEMAND.name: _job(DAILY_DEMAND, RIDES.bronze_table, DAILY_WINDOWS_DAYS[1] - 1, daily_demand_range),
    DAILY_WEATHER.name: _job(DAILY_WEATHER, WEATHER.bronze_table, DAILY_WINDOWS_DAYS[0] - 1, daily_weather_range),
}
