"""Feature computations with the Spark DataFrame API: schedule, origin weather, trailing outcome aggregates.

Every function maps bronze DataFrames (already limited to the lookback the job needs) to the rows of
one logical day, or with the `_range` variants of every day in [first, last] in one job (each row's
`feature_date` is the logical day that produces it; the per-day functions are the case first == last).
Nothing is collected to the driver except the tiny holiday calendar, so the same code runs unchanged on
a cluster.

Outcome rule (when a flight's outcome becomes observable, all UTC):
  sched_dep_ts = time_hour + minute;
  cancelled (dep_time null): known at sched_dep_ts;
  otherwise known at sched_dep_ts + dep_delay + air_time + 30 min buffer, with air_time missing
  (diverted) estimated as distance / 6 miles per minute; never before sched_dep_ts.
  delayed = arr_delay > 15, or arr_delay null (cancelled and diverted flights count as delayed);
  mean arrival delay averages only flights with an arr_delay.
Trailing aggregates are snapshots at hour H over outcomes known in (H - window, H]. An outcome known at k
falls in the hourly bucket ceil_hour(k), and k is in (H - w, H] exactly when that bucket is in
[H - w + 1 h, H], so each table is an hourly bucket sum followed by a range window per entity.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from usecases.flight_delay.features import (
    AGGREGATES,
    AIRCRAFT_STATS,
    DELAY_THRESHOLD_MINUTES,
    EXISTENCE_TAIL_HOURS,
    FLIGHT_KEY,
    FLIGHT_SCHEDULE,
    ORIGIN_WEATHER,
    OUTCOME_BUFFER_MINUTES,
    SLOW_MILES_PER_MINUTE,
    WEATHER_FEATURES,
    AggregateSpec,
    FeatureTable,
    column_dtypes,
)

HOUR = 3600


def day_start_seconds(day: date) -> int:
    """Epoch seconds of the logical day's first snapshot hour (00:00 UTC)."""
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def conform(df: DataFrame, table: FeatureTable, day: date) -> DataFrame:
    """Select the table's columns in storage order with their registered types, plus `feature_date`."""
    return stored_columns(df.withColumn(table.date_column, F.lit(day).cast("date")), table)


def stored_columns(df: DataFrame, table: FeatureTable) -> DataFrame:
    """Select the table's columns (its date column included) in storage order with their registered types."""
    return df.select(*[F.col(c).cast(t).alias(c) for c, t in column_dtypes(table).items()])


def _utc_date(seconds: Column) -> Column:
    """The UTC date of epoch seconds, whatever the session time zone (a snapshot's logical day)."""
    return F.date_from_unix_date(F.floor(seconds / (24 * HOUR)).cast("int"))


# ---- schedule ---------------------------------------------------------------------------------
def holiday_table(spark: SparkSession, start: date, end: date) -> DataFrame:
    """Small table (local_date, days_to_holiday): days to the nearest observed US federal holiday."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    dates = pd.date_range(start, end, freq="D")
    holidays = USFederalHolidayCalendar().holidays(start - timedelta(days=400), end + timedelta(days=400))
    gaps = [int(abs((holidays - d).days).min()) for d in dates]
    frame = pd.DataFrame({"local_date": dates.date, "days_to_holiday": gaps})
    return spark.createDataFrame(frame, "local_date date, days_to_holiday int")


def _sched_seconds() -> Column:
    return F.unix_seconds(F.col("time_hour")) + F.col("minute") * 60


def flight_schedule(flights: DataFrame, day: date, lead_minutes: int) -> DataFrame:
    """Schedule features of the flights whose local flight date is `day`; valid from their prediction time."""
    return flight_schedule_range(flights, day, day, lead_minutes)


def flight_schedule_range(flights: DataFrame, first: date, last: date, lead_minutes: int) -> DataFrame:
    """`flight_schedule` of every local flight date in [first, last]; `feature_date` is the flight date."""
    spark = flights.sparkSession
    local_date = F.make_date("year", "month", "day")
    rows = flights.where(F.col("date").between(F.lit(first), F.lit(last))).select(
        "year",
        "month",
        "day",
        "carrier",
        "flight",
        "origin",
        F.timestamp_seconds(_sched_seconds() - lead_minutes * 60).alias("prediction_ts"),
        F.timestamp_seconds(_sched_seconds()).alias("sched_dep_ts"),
        "dest",
        "tailnum",
        "distance",
        F.col("hour").alias("sched_dep_hour"),
        F.weekday(local_date).alias("day_of_week"),
        local_date.alias("local_date"),
        F.col("date").alias(FLIGHT_SCHEDULE.date_column),
    )
    calendar = holiday_table(spark, first - timedelta(days=1), last + timedelta(days=1))
    return stored_columns(rows.join(F.broadcast(calendar), "local_date", "left"), FLIGHT_SCHEDULE)


# ---- weather ----------------------------------------------------------------------------------
def origin_weather(weather: DataFrame, day: date) -> DataFrame:
    """The logical day's hourly observations per origin; each is valid from its observation hour.

    A reading outside its feature's physical range (e.g. the 1048 mph wind at EWR on 2013-02-12) is a
    sensor fault: it becomes null here, so models never see it and the null limits still catch outages.
    """
    return origin_weather_range(weather, day, day)


def origin_weather_range(weather: DataFrame, first: date, last: date) -> DataFrame:
    """`origin_weather` of every local date in [first, last]; `feature_date` is the observation's date."""
    ranges = {f.name: (f.min_value, f.max_value) for f in ORIGIN_WEATHER.features if f.name in WEATHER_FEATURES}
    cleaned = [
        F.when(F.col(name).between(lo, hi), F.col(name)).alias(name) if lo is not None else F.col(name)
        for name, (lo, hi) in ranges.items()
    ]
    in_range = weather.where(F.col("date").between(F.lit(first), F.lit(last)))
    logical_day = F.col("date").alias(ORIGIN_WEATHER.date_column)
    rows = in_range.select("origin", F.col("time_hour").alias("obs_ts"), *cleaned, logical_day)
    return stored_columns(rows, ORIGIN_WEATHER)


# ---- outcomes and trailing aggregates ---------------------------------------------------------
def _known_seconds() -> Column:
    """When the flight's outcome became observable (epoch seconds, double): the rule in the module doc."""
    sched = _sched_seconds().cast("double")
    air = F.coalesce(F.col("air_time"), F.col("distance") / SLOW_MILES_PER_MINUTE)
    landed = sched + (F.coalesce(F.col("dep_delay"), F.lit(0.0)) + air + OUTCOME_BUFFER_MINUTES) * 60
    return F.when(F.col("dep_time").isNull(), sched).otherwise(F.greatest(landed, sched))


def _delayed() -> Column:
    return (F.col("arr_delay").isNull() | (F.col("arr_delay") > DELAY_THRESHOLD_MINUTES)).cast("long")


def flight_labels(flights: DataFrame) -> DataFrame:
    """The label of each flight (`delayed` 0/1) and when it became known (`label_known_ts`, UTC)."""
    return flights.select(
        *FLIGHT_KEY, _delayed().alias("delayed"), F.timestamp_seconds(_known_seconds()).alias("label_known_ts")
    )


def outcome_events(flights: DataFrame) -> DataFrame:
    """One row per flight with when its outcome became known (`known_s`, epoch s) and its bucket hour."""
    known = _known_seconds()
    return flights.select(
        "carrier",
        "origin",
        "dest",
        "tailnum",
        "arr_delay",
        known.alias("known_s"),
        (F.ceil(known / HOUR) * HOUR).cast("long").alias("bucket"),
        _delayed().alias("delayed"),
    )


def _bucket_sums(events: DataFrame, spec: AggregateSpec) -> DataFrame:
    """Per entity and bucket hour: outcome count, delayed count, arrival-delay sum/count, latest arrival."""
    latest = F.when(F.col("arr_delay").isNotNull(), F.struct(F.col("known_s"), F.col("arr_delay")))
    return (
        events.groupBy(*spec.entity, "bucket")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum("delayed").alias("n_delayed"),
            F.sum("arr_delay").alias("sum_arr"),
            F.count("arr_delay").alias("n_arr"),
            F.max(latest).alias("latest"),
        )
        .withColumn("is_grid", F.lit(0))
    )


def _snapshot_grid(events: DataFrame, spec: AggregateSpec, start: int, end: int) -> DataFrame:
    """(entity, bucket) rows to emit: every hour in [start, end], or only the hours where an aggregate changes."""
    if spec.change_points_only:
        hours = spec.windows[0][1]
        shifted = events.select(*spec.entity, F.explode(F.array("bucket", F.col("bucket") + hours * HOUR)).alias("b"))
        grid = shifted.where(F.col("b").between(start, end)).select(*spec.entity, F.col("b").alias("bucket"))
    else:
        count = (end - start) // HOUR + 1
        day_hours = events.sparkSession.range(count).select((F.col("id") * HOUR + start).alias("bucket"))
        grid = events.select(*spec.entity).distinct().crossJoin(F.broadcast(day_hours))
    return grid.distinct().select(
        *spec.entity,
        "bucket",
        F.lit(0).cast("long").alias("n"),
        F.lit(0).cast("long").alias("n_delayed"),
        F.lit(None).cast("double").alias("sum_arr"),
        F.lit(0).cast("long").alias("n_arr"),
        F.lit(None).cast("struct<known_s:double,arr_delay:double>").alias("latest"),
        F.lit(1).alias("is_grid"),
    )


def trailing_aggregates(flights: DataFrame, spec: AggregateSpec, day: date) -> DataFrame:
    """Snapshots of one aggregate table for the logical day (feature_ts = snapshot hour, UTC)."""
    return trailing_aggregates_range(flights, spec, day, day)


def trailing_aggregates_range(flights: DataFrame, spec: AggregateSpec, first: date, last: date) -> DataFrame:
    """Snapshots of every logical day in [first, last]; `feature_date` is the snapshot's UTC date.

    A snapshot's windows only look back, and an outcome older than the per-day bronze lookback is outside
    every window of the day (registry.AggregateSpec.lookback_days), so one job over the union of the days'
    lookbacks gives exactly the rows of the per-day jobs.
    """
    start, end = day_start_seconds(first), day_start_seconds(last) + 23 * HOUR
    longest = max(h for _, h in spec.windows) + (0 if spec.change_points_only else EXISTENCE_TAIL_HOURS)
    events = outcome_events(flights).where(F.col("bucket") <= end)
    for column in spec.entity:
        events = events.where(F.col(column).isNotNull())
    cells = _bucket_sums(events, spec).unionByName(_snapshot_grid(events, spec, start, end))
    cells = cells.groupBy(*spec.entity, "bucket").agg(
        *[F.sum(c).alias(c) for c in ("n", "n_delayed", "sum_arr", "n_arr")],
        F.max("latest").alias("latest"),
        F.max("is_grid").alias("is_grid"),
    )
    by_entity = Window.partitionBy(*spec.entity).orderBy("bucket")
    columns = [F.sum("n").over(by_entity.rangeBetween(-(longest - 1) * HOUR, 0)).alias("n_any")]
    for label, hours in spec.windows:
        frame = by_entity.rangeBetween(-(hours - 1) * HOUR, 0)
        n, n_arr = F.sum("n").over(frame), F.sum("n_arr").over(frame)
        name = f"{spec.prefix}_%s_{label}"
        columns += [
            n.alias(name % "flights"),
            F.when(n > 0, F.sum("n_delayed").over(frame) / n).alias(name % "delay_rate"),
            F.when(n_arr > 0, F.sum("sum_arr").over(frame) / n_arr).alias(name % "mean_arr_delay"),
        ]
        if spec.last_arr_delay:
            columns.append(F.max("latest").over(frame)["arr_delay"].alias(f"{spec.prefix}_last_arr_delay"))
    snapshots = cells.select(*spec.entity, "bucket", "is_grid", *columns).where(
        (F.col("is_grid") == 1) & F.col("bucket").between(start, end)
    )
    if not spec.change_points_only:
        snapshots = snapshots.where(F.col("n_any") > 0)
    return snapshots.withColumn("feature_ts", F.timestamp_seconds("bucket")).withColumn(
        "feature_date", _utc_date(F.col("bucket"))
    )


def aircraft_stats(flights: DataFrame, planes: DataFrame, day: date) -> DataFrame:
    """Trailing 24 h aircraft outcomes at their change hours, with plane age from bronze.planes."""
    return aircraft_stats_range(flights, planes, day, day)


def aircraft_stats_range(flights: DataFrame, planes: DataFrame, first: date, last: date) -> DataFrame:
    """`aircraft_stats` of every logical day in [first, last]."""
    snapshots = trailing_aggregates_range(flights, AGGREGATES[AIRCRAFT_STATS.name], first, last)
    built = planes.select("tailnum", F.col("year").alias("year_built"))
    joined = snapshots.join(built, "tailnum", "left")
    joined = joined.withColumn("plane_age", F.year("feature_ts") - F.col("year_built"))
    return stored_columns(joined, AIRCRAFT_STATS)


def entity_stats(flights: DataFrame, table: FeatureTable, day: date) -> DataFrame:
    """Carrier, origin or route snapshots for the logical day, in the table's storage layout."""
    return entity_stats_range(flights, table, day, day)


def entity_stats_range(flights: DataFrame, table: FeatureTable, first: date, last: date) -> DataFrame:
    """`entity_stats` of every logical day in [first, last]."""
    return stored_columns(trailing_aggregates_range(flights, AGGREGATES[table.name], first, last), table)
