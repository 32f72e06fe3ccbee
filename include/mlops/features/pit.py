"""The point-in-time join shared by training and inference: each entity row gets the latest features as of t.

Design (union-and-window, one shuffle per feature table): entity rows and feature rows are unioned
into one frame keyed by the table's entity columns, sorted by (timestamp, side) with feature rows first
on ties, and `last(features, ignorenulls=True)` over the running window hands every entity row the latest
feature row at or before its timestamp. This costs a sort per entity partition and never multiplies rows,
whereas a range join (key equal, feature_ts in [t - max_age, t]) emits every snapshot in the age window per
entity row (48 for hourly snapshots and a 48 h limit) before a row_number keeps one. The age limit is
applied afterwards: a match older than `max_age` becomes null and is counted as too old.

Partition rule (reproducible inputs): when the entity rows carry their entity date, a row of entity date D
only sees feature rows whose partition date is at most D, the partitions that exist when D is first scored
(feature_refresh of D has run, that of D + 1 has not). Without it, a prediction time at 00:00 UTC would see
the 00:00 snapshot of the next UTC day, written a day later: a rerun would score other inputs than the first
run, and training would learn from inputs serving never had. Training and scoring share the rule. It needs
a second running window, ordered by (date, time): when the latest row by time lies in a later partition,
the latest row of the allowed partitions is taken instead, if it is not after t. That is exact when a
table's date grows with its timestamp (a UTC or local date of it), as the catalog's dates do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from mlops.features.catalog import FeatureTable
from mlops.usecase.contract import ENTITY_DATE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.usecase import UseCase

MATCHED, TOO_OLD, MISSING = 0, 1, 2


@dataclass(frozen=True)
class TableMatch:
    """How the entity rows fared against one feature table."""

    table: str
    version: int  # the table version read, for the training run's lineage
    matched: int
    too_old: int  # a row existed at or before t, but older than max_age
    missing: int  # no row at or before t


@dataclass(frozen=True)
class PitJoinStats:
    """Row count and per-table match counts of one PIT join."""

    rows: int
    tables: tuple[TableMatch, ...]

    def table(self, name: str) -> TableMatch:
        """Counts of table `name` (full or short name)."""
        for match in self.tables:
            if name in (match.table, match.table.split(".", 1)[1]):
                return match
        raise KeyError(f"No PIT stats for {name!r}; joined tables: {[m.table for m in self.tables]}")

    def summary(self) -> dict[str, object]:
        """Small dict for XCom and run metadata."""
        return {"rows": self.rows, **{m.table: [m.matched, m.too_old, m.missing] for m in self.tables}}


@dataclass(frozen=True)
class PitJoinResult:
    """The entity rows with feature columns attached (persisted), and the match statistics."""

    frame: DataFrame
    stats: PitJoinStats
    cached: DataFrame | None = field(default=None, repr=False)  # the persisted plan behind `frame`

    def unpersist(self) -> None:
        """Release the cached join once the frame has been written or collected."""
        if self.cached is not None:
            self.cached.unpersist()


def prediction_entities(
    spark: SparkSession, lakehouse: Lakehouse, usecase: UseCase, first: date, last: date
) -> DataFrame:
    """Entity keys, prediction time and entity date of every entity of dates [first, last].

    The entity frame both training (add labels) and batch inference start from: the rows of the use
    case's entity table.
    """
    from pyspark.sql import functions as F

    table, entity = usecase.entity_table, usecase.entity
    rows = lakehouse.read_spark(spark, table.name)
    in_range = F.col(table.date_column).between(F.lit(first), F.lit(last))
    date = F.col(table.date_column).alias(ENTITY_DATE)
    return rows.where(in_range).select(*entity.keys, entity.time_column, date)


def max_ages(settings: Settings, tables: Sequence[FeatureTable]) -> dict[str, timedelta]:
    """Per-table age limits: the table's own `max_age_hours`, else `features.max_feature_age_hours`."""
    default = settings.features.max_feature_age_hours
    return {t.name: timedelta(hours=t.max_age_hours or default) for t in tables}


def point_in_time_join(
    spark: SparkSession,
    entities: DataFrame,
    lakehouse: Lakehouse,
    tables: Sequence[FeatureTable],
    *,
    timestamp_column: str = "prediction_ts",
    max_age: timedelta | Mapping[str, timedelta],
    persist: bool = True,
    date_column: str = ENTITY_DATE,
) -> PitJoinResult:
    """Attach to each entity row the latest row of each table with t - max_age <= feature_ts <= t.

    Tables are joined in order, so a table may key on columns an earlier one attached (a route table on a
    destination the schedule table attached). Older or absent rows give nulls.

    Args:
        spark: the session that reads the feature tables.
        entities: rows to enrich; must hold every table's entity columns and `timestamp_column` (UTC).
        lakehouse: where the feature tables live.
        tables: feature tables to join, in order (a use case's `features.tables`).
        timestamp_column: the prediction time t of each entity row.
        max_age: one limit for all tables, or one per table name (full or short).
        persist: persist the joined frame, since the statistics already compute it once.
        date_column: the entity date of each row; when present, a row sees only feature partitions dated at
            most its entity date (the partition rule in the module doc). Absent: every partition.

    Raises:
        ValueError: a needed column is missing, a feature name collides with an entity column, or an age
            limit is negative or absent for a table.
    """
    tables = tuple(tables)
    if timestamp_column not in entities.columns:
        raise ValueError(f"PIT join: entities have no timestamp column {timestamp_column!r}; got {entities.columns}")
    limits = {t.name: _max_age(max_age, t) for t in tables}
    bounds = _time_bounds(entities, timestamp_column, max(limits.values()))
    frame, versions = entities, {}
    for table in tables:
        _check_columns(frame.columns, table)
        features, versions[table.name] = _read_features(spark, lakehouse, table, bounds)
        dated = date_column if date_column in entities.columns else None
        frame = _join_one(frame, features, table, timestamp_column, limits[table.name], dated)
    cached = frame.persist() if persist else None
    frame = cached if cached is not None else frame
    stats = _stats(frame, tables, versions)
    return PitJoinResult(frame.drop(*[_status(t) for t in tables]), stats, cached)


def _max_age(max_age: timedelta | Mapping[str, timedelta], table: FeatureTable) -> timedelta:
    if isinstance(max_age, timedelta):
        value = max_age
    else:
        value = max_age.get(table.name, max_age.get(table.short_name))
        if value is None:
            raise ValueError(f"PIT join: no max_age for {table.name}; given for {sorted(max_age)}")
    if value < timedelta(0):
        raise ValueError(f"PIT join: max_age for {table.name} must be >= 0, got {value}")
    return value


def _time_bounds(entities: DataFrame, column: str, oldest: timedelta) -> tuple[int, int] | None:
    """Earliest feature time any entity row may use and the latest prediction time, in epoch microseconds."""
    from pyspark.sql import functions as F

    ts = F.unix_micros(F.col(column))
    bounds = entities.agg(F.min(ts).alias("low"), F.max(ts).alias("high")).first()
    if bounds is None or bounds["low"] is None:
        return None
    return bounds["low"] - _micros(oldest), bounds["high"]


def _micros(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _check_columns(columns: Sequence[str], table: FeatureTable) -> None:
    missing = [c for c in table.entity if c not in columns]
    if missing:
        raise ValueError(
            f"PIT join: entities lack {missing} needed to join {table.name} (entity {list(table.entity)}); "
            "add the columns or join a table that provides them first (tables join in catalog order)"
        )
    clash = [f.name for f in table.joined_features if f.name in columns]
    if clash:
        raise ValueError(f"PIT join: entity columns {clash} collide with features of {table.name}; rename them")


def _read_features(
    spark: SparkSession, lakehouse: Lakehouse, table: FeatureTable, bounds: tuple[int, int] | None
) -> tuple[DataFrame, int]:
    """The table's rows that some entity row could use; the date filter prunes partitions."""
    from pyspark.sql import functions as F

    version = lakehouse.version(table.name)
    rows = lakehouse.read_spark(spark, table.name, version=version)
    if bounds is None:
        return rows.limit(0), version
    first, last = (datetime.fromtimestamp(us / 1e6, tz=UTC).date() for us in bounds)
    # The date column may be a local date or a UTC date: one day of slack each way.
    dates = F.col(table.date_column).between(F.lit(first - timedelta(days=1)), F.lit(last + timedelta(days=1)))
    ts = F.unix_micros(F.col(table.timestamp_column))
    return rows.where(dates & ts.between(bounds[0], bounds[1])), version


def _status(table: FeatureTable) -> str:
    return f"__pit_{table.short_name}"


def _join_one(
    frame: DataFrame,
    features: DataFrame,
    table: FeatureTable,
    timestamp_column: str,
    max_age: timedelta,
    date_column: str | None,
) -> DataFrame:
    from pyspark.sql import functions as F

    names = [f.name for f in table.joined_features]
    payload = F.struct(
        *[F.col(n) for n in names],
        F.col(table.timestamp_column).alias("__feature_ts"),
        F.col(table.date_column).alias("__feature_date"),
    )
    right = features.select(
        *table.entity,
        F.col(table.timestamp_column).alias("__ts"),
        F.col(table.date_column).alias("__date"),
        payload.alias("__f"),
        F.lit(0).alias("__side"),
    )
    left = frame.select(
        "*",
        F.col(timestamp_column).alias("__ts"),
        (F.col(date_column) if date_column else F.lit(None)).cast("date").alias("__date"),
        F.lit(None).cast(right.schema["__f"].dataType).alias("__f"),
        F.lit(1).alias("__side"),
    )
    union = left.unionByName(right, allowMissingColumns=True)
    joined = _latest(union, table, date_column is not None).where("__side = 1")
    age_limit = F.unix_micros("__ts") - _micros(max_age)
    status = (
        F.when(F.col("__f").isNull() | F.col("__ts").isNull(), MISSING)
        .when(F.unix_micros(F.col("__f.__feature_ts")) < age_limit, TOO_OLD)
        .otherwise(MATCHED)
    )
    joined = joined.withColumn(_status(table), status)
    fresh = F.col(_status(table)) == MATCHED
    attached = [F.when(fresh, F.col("__f")[n]).alias(n) for n in names]
    return joined.select(*frame.columns, *attached, _status(table))


def _latest(union: DataFrame, table: FeatureTable, dated: bool) -> DataFrame:
    """Each row's latest feature row at or before its time (`__f`); with `dated`, in allowed partitions only."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def running(*order: str) -> Window:
        return Window.partitionBy(*table.entity).orderBy(*order).rowsBetween(Window.unboundedPreceding, 0)

    by_time = F.last("__f", ignorenulls=True).over(running("__ts", "__side"))
    if not dated:
        return union.withColumn("__f", by_time)
    by_partition = F.last("__f", ignorenulls=True).over(running("__date", "__ts", "__side"))
    union = union.withColumn("__by_time", by_time).withColumn("__by_partition", by_partition)
    chosen = F.when(F.col("__by_time.__feature_date") <= F.col("__date"), F.col("__by_time")).when(
        F.col("__by_partition.__feature_ts") <= F.col("__ts"), F.col("__by_partition")
    )
    return union.withColumn("__f", chosen).drop("__by_time", "__by_partition")


def _stats(frame: DataFrame, tables: Sequence[FeatureTable], versions: Mapping[str, int]) -> PitJoinStats:
    from pyspark.sql import functions as F

    counts = [F.count(F.lit(1)).alias("rows")]
    for i, table in enumerate(tables):
        for code in (MATCHED, TOO_OLD, MISSING):
            counts.append(F.sum((F.col(_status(table)) == code).cast("long")).alias(f"t{i}_{code}"))
    row = frame.agg(*counts).first()
    matches = tuple(
        TableMatch(t.name, versions[t.name], *(int(row[f"t{i}_{c}"] or 0) for c in (MATCHED, TOO_OLD, MISSING)))
        for i, t in enumerate(tables)
    )
    return PitJoinStats(int(row["rows"]), matches)
