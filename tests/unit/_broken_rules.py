"""Test helper: broken copies of the flight-delay code (a job reading an undeclared column, labels reading the
future, labels known too early or too late), to check that the platform refuses each with one message."""

from __future__ import annotations

import dataclasses
from datetime import date

from mlops.usecase import UseCase
from usecases.flight_delay.compute import RANGE_JOBS
from usecases.flight_delay.features import FLIGHT_KEY
from usecases.flight_delay.labels import LABELS, labels_spark

WEATHER_TABLE = "features.origin_weather"


def snowfall_weather_job(spark, lakehouse, settings, first: date, last: date):
    """features.origin_weather plus a read of `snowfall`, a column bronze.weather does not declare."""
    from pyspark.sql import functions as F

    rows = RANGE_JOBS[WEATHER_TABLE](spark, lakehouse, settings, first, last)
    snow = lakehouse.read_spark(spark, "bronze.weather").agg(F.max("snowfall").alias("snow"))
    return rows.crossJoin(snow).drop("snow")


def next_day_labels(flights):
    """delayed also when the same flight number (carrier, flight, origin) is delayed the next day: reads the future."""
    from pyspark.sql import functions as F

    labels = labels_spark(flights)
    day = F.make_date("year", "month", "day")
    route = ["carrier", "flight", "origin"]
    tomorrow = labels.select(*route, F.date_sub(day, 1).alias("__day"), F.col("delayed").alias("__next"))
    joined = labels.withColumn("__day", day).join(tomorrow, [*route, "__day"], "left")
    delayed = F.greatest(F.col("delayed"), F.coalesce(F.col("__next"), F.lit(0)))
    return joined.select(*FLIGHT_KEY, delayed.alias("delayed"), "label_known_ts")


def early_labels(flights):
    """Labels claimed known a day before landing: before the prediction time."""
    from pyspark.sql import functions as F

    return labels_spark(flights).withColumn("label_known_ts", F.col("label_known_ts") - F.expr("INTERVAL 1 DAY"))


def late_labels(flights):
    """Labels claimed known three days after landing: later than lag_days=1 allows."""
    from pyspark.sql import functions as F

    return labels_spark(flights).withColumn("label_known_ts", F.col("label_known_ts") + F.expr("INTERVAL 3 DAYS"))


def with_labels(usecase: UseCase, rule) -> UseCase:
    """`usecase` with another Spark label rule."""
    return dataclasses.replace(usecase, labels=dataclasses.replace(LABELS, spark=rule))


def with_job(usecase: UseCase, table: str, job) -> UseCase:
    """`usecase` with another job for `table`."""
    compute = {**usecase.features.compute, table: job}
    return dataclasses.replace(usecase, features=dataclasses.replace(usecase.features, compute=compute))
