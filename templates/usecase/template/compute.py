"""The Spark job of each feature table and the label rule, following the publication rule of `features`.

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

from .datasets import ACTIVITY, CUSTOMERS, PLANS
from .features import ACTIVITY_7D, ACTIVITY_28D, CUSTOMER_DAYS, KEY_DTYPES, LONG_WINDOW_DAYS, SHORT_WINDOW_DAYS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse


def published_at(day: Column) -> Column:
    """When a day's activity is published: 00:00 UTC of the next day (the session time zone is UTC)."""
    from pyspark.sql import functions as F

    return F.date_add(day, 1).cast("timestamp")


def stored_columns(df: DataFrame, table: FeatureTable) -> DataFrame:
    """The table's columns in storage order with their registered types."""
    from pyspark.sql import functions as F

    by_feature = {f.name: f.dtype for f in table.features}
    return df.select(*[F.col(c).cast(by_feature.get(c) or KEY_DTYPES[c]).alias(c) for c in table.columns])


def _fan_out(frame: DataFrame, window_days: int, first: date, last: date) -> DataFrame:
    """Each row once per snapshot day X = date + lag in [first, last] whose window holds it (column `lag`)."""
    from pyspark.sql import functions as F

    fanned = frame.withColumn("lag", F.explode(F.sequence(F.lit(0), F.lit(window_days - 1))))
    fanned = fanned.withColumn("feature_date", F.date_add(F.col("date"), F.col("lag")))
    return fanned.where(F.col("feature_date").between(F.lit(first), F.lit(last)))


def _published(snapshots: DataFrame, source: DataFrame) -> DataFrame:
    """Only the snapshots of days that were published (a day with no rows publishes nothing), with feature_ts."""
    from pyspark.sql import functions as F

    days = source.select(F.col("date").alias("feature_date")).distinct()
    return snapshots.join(days, "feature_date").withColumn("feature_ts", published_at(F.col("feature_date")))


def customer_days_range(customers: DataFrame, first: date, last: date) -> DataFrame:
    """Every customer on every day of [first, last], with its prediction time and what is known in advance."""
    from pyspark.sql import functions as F

    days = F.sequence(F.lit(first), F.lit(last))
    level = F.array_position(F.array(*[F.lit(p) for p in PLANS]), F.col("plan")) - 1
    rows = customers.select("customer_id", level.alias("plan_level"), F.explode(days).alias("feature_date"))
    rows = rows.select(
        "*",
        F.year("feature_date").alias("year"),
        F.month("feature_date").alias("month"),
        F.dayofmonth("feature_date").alias("day"),
        F.col("feature_date").cast("timestamp").alias("prediction_ts"),
        F.weekday("feature_date").alias("day_of_week"),
    )
    return stored_columns(rows, CUSTOMER_DAYS)


def activity_7d_range(activity: DataFrame, first: date, last: date) -> DataFrame:
    """Per customer: the latest published day and the last SHORT_WINDOW_DAYS days."""
    from pyspark.sql import functions as F

    inactive = (F.col("sessions") == 0).cast("int")
    snapshots = (
        _fan_out(activity, SHORT_WINDOW_DAYS, first, last)
        .groupBy("feature_date", "customer_id")
        .agg(
            F.max(F.when(F.col("lag") == 0, inactive)).alias("inactive_last_1d"),
            F.avg(inactive).alias("inactive_share_7d"),
            F.avg("sessions").alias("sessions_mean_7d"),
            F.avg("minutes").alias("minutes_mean_7d"),
            F.sum("tickets").alias("tickets_7d"),
        )
    )
    return stored_columns(_published(snapshots, activity), ACTIVITY_7D)


def activity_28d_range(activity: DataFrame, first: date, last: date) -> DataFrame:
    """Per customer: the last LONG_WINDOW_DAYS days (inactive share, tickets, days since the last session)."""
    from pyspark.sql import functions as F

    snapshots = (
        _fan_out(activity, LONG_WINDOW_DAYS, first, last)
        .groupBy("feature_date", "customer_id")
        .agg(
            F.avg((F.col("sessions") == 0).cast("int")).alias("inactive_share_28d"),
            F.sum("tickets").alias("tickets_28d"),
            F.coalesce(F.min(F.when(F.col("sessions") > 0, F.col("lag"))), F.lit(LONG_WINDOW_DAYS)).alias(
                "days_since_active"
            ),
        )
    )
    return stored_columns(_published(snapshots, activity), ACTIVITY_28D)


def inactive_labels(activity: DataFrame) -> DataFrame:
    """Entity keys, `inactive` (1: no session on the day) and `label_known_ts`: a day after its publication."""
    from pyspark.sql import functions as F

    from .labels import LABEL, LABEL_DELAY_DAYS

    day = F.make_date("year", "month", "day")
    return activity.select(
        "customer_id",
        "year",
        "month",
        "day",
        (F.col("sessions") == 0).cast("int").alias(LABEL),
        F.date_add(day, 1 + LABEL_DELAY_DAYS).cast("timestamp").alias("label_known_ts"),
    )


def _job(table: FeatureTable, build):  # noqa: ANN001, ANN202 - a FeatureJob
    def compute(spark: SparkSession, lakehouse: Lakehouse, settings: Settings, first: date, last: date) -> DataFrame:
        if table is CUSTOMER_DAYS:  # the customer list: a snapshot merged on its keys, no date partitions
            return build(lakehouse.read_spark(spark, CUSTOMERS.bronze_table), first, last)
        since = first - timedelta(days=table.lookback_days)
        return build(read_bronze(spark, lakehouse, ACTIVITY.bronze_table, since, last), first, last)

    compute.__name__ = f"compute_{table.short_name}"
    compute.__doc__ = f"{table.name}: {table.description}"
    return compute


RANGE_JOBS = {
    CUSTOMER_DAYS.name: _job(CUSTOMER_DAYS, customer_days_range),
    ACTIVITY_7D.name: _job(ACTIVITY_7D, activity_7d_range),
    ACTIVITY_28D.name: _job(ACTIVITY_28D, activity_28d_range),
}
