"""The feature refresh of any use case: compute one feature table for a day (or a range), stage it, publish it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops.features.catalog import FeatureTable
from mlops.features.stale import clear_stale, open_stale_dates
from mlops.lakehouse import Lakehouse, TableNotFoundError, WriteResult

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings

log = logging.getLogger(__name__)


def staging_name(table: FeatureTable) -> str:
    """Where a job stages the rows of `table` before they are validated and published."""
    return f"staging.{table.short_name}"


def read_bronze(spark: SparkSession, lakehouse: Lakehouse, name: str, first: date, last: date) -> DataFrame:
    """Bronze rows whose `date` partition is in [first, last] (partition pruning keeps the read small)."""
    from pyspark.sql import functions as F

    return lakehouse.read_spark(spark, name).where(F.col("date").between(F.lit(first), F.lit(last)))


def compute_feature_table(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, table_name: str, day: date
) -> DataFrame:
    """The rows of `table_name` produced by logical day `day` (lazy; reads only the bronze lookback it needs).

    Raises:
        KeyError: unknown table (the message lists registered tables).
        TableNotFoundError: a bronze input has never been written.
    """
    return compute_feature_range(spark, lakehouse, settings, table_name, day, day)


def compute_feature_range(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, table_name: str, first: date, last: date
) -> DataFrame:
    """The rows of `table_name` produced by every logical day in [first, last], in one lazy Spark job.

    The same rows as the union of `compute_feature_table` over those days (`feature_date` tells them
    apart), for backfills and training sets over months: bronze is read once over the union of the days'
    lookbacks instead of once per day.

    Raises:
        ValueError: `first` is after `last`.
        KeyError: unknown table (the message lists registered tables).
        TableNotFoundError: a bronze input has never been written.
    """
    if first > last:
        raise ValueError(f"compute_feature_range({table_name!r}): first {first} is after last {last}")
    from mlops.usecase import usecase_of

    features = usecase_of(settings).features
    table = features.table(table_name)
    return features.compute[table.name](spark, lakehouse, settings, first, last)


def stage_feature_table(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, table_name: str, day: date, last: date | None = None
) -> WriteResult:
    """Compute the rows of `day` (or of every day in [day, last]) and atomically replace those partitions
    of `staging.<table>`: a run over several days is one Spark job and one commit."""
    from mlops.usecase import usecase_of

    table = usecase_of(settings).features.table(table_name)
    last = last or day
    rows = compute_feature_range(spark, lakehouse, settings, table.name, day, last)
    days = [day + timedelta(days=i) for i in range((last - day).days + 1)]
    return lakehouse.write_spark(
        rows,
        staging_name(table),
        mode="replace_partition",
        partition={table.date_column: days[0] if len(days) == 1 else days},
        partition_by=[table.date_column],
    )


@dataclass(frozen=True)
class StagedRun:
    """What `stage_feature_run` staged: the run's dates plus the stale dates recomputed with them."""

    result: WriteResult
    dates: tuple[date, ...]  # every staged date, sorted: validate and publish these
    recomputed: tuple[date, ...]  # the stale dates among them (outside the run's own dates)
    stale_as_of: datetime  # stale marks made before this were read; publishing clears only those

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom (one key per value with `multiple_outputs`)."""
        return {
            **self.result.summary(),
            "dates": [d.isoformat() for d in self.dates],
            "recomputed": [d.isoformat() for d in self.recomputed],
            "stale_as_of": self.stale_as_of.isoformat(),
        }


def stage_feature_run(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, table_name: str, first: date, last: date
) -> StagedRun:
    """Stage the run's dates [first, last] and every stale date of the table up to `last` (bronze days corrected
    since they were published), one Spark job and commit per contiguous block of dates."""
    from mlops.usecase import usecase_of

    table = usecase_of(settings).features.table(table_name)
    as_of = datetime.now(UTC)
    own = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    stale = tuple(d for d in open_stale_dates(lakehouse, table.name, until=last) if d not in own)
    if stale:
        log.info("%s: recomputing %d stale dates with the run: %s", table.name, len(stale), _describe(stale))
    results = [
        stage_feature_table(spark, lakehouse, settings, table.name, block[0], block[-1])
        for block in contiguous_blocks(sorted(own | set(stale)))
    ]
    rows = sum(r.rows for r in results)
    result = WriteResult(results[-1].table, results[-1].version, rows, results[-1].operation)
    return StagedRun(result, tuple(sorted(own | set(stale))), stale, as_of)


def contiguous_blocks(dates: list[date]) -> list[list[date]]:
    """Sorted dates split into runs of consecutive days: [[1, 2, 3], [7, 8]]."""
    blocks: list[list[date]] = []
    for day in dates:
        if blocks and day - blocks[-1][-1] == timedelta(days=1):
            blocks[-1].append(day)
        else:
            blocks.append([day])
    return blocks


def _describe(dates: tuple[date, ...]) -> str:
    return ", ".join(f"{b[0]}..{b[-1]}" if len(b) > 1 else str(b[0]) for b in contiguous_blocks(list(dates)))


def publish_feature_table(
    spark: SparkSession | None, lakehouse: Lakehouse, table: FeatureTable, day: date
) -> WriteResult:
    """Merge the staged partition of `day` into `features.<table>` on the table's keys.

    Idempotent by content: when the published partition already holds exactly the staged rows, nothing is
    written (`skipped=True`, same version). When the published partition holds keys the staged one no longer
    has (a recomputation after a bronze correction), the partition is replaced atomically instead, so
    stale rows do not survive. With `spark=None` the work runs through delta-rs and Arrow.

    Raises:
        TableNotFoundError: the day has not been staged (run `stage_feature_table` first).
    """
    source = staging_name(table)
    if not lakehouse.exists(source):
        raise TableNotFoundError(f"Cannot publish {table.name} for {day}: {source} does not exist; stage it first")
    if spark is None:
        return _publish_arrow(lakehouse, table, day)
    return _publish_spark(spark, lakehouse, table, day)


def _publish_spark(spark: SparkSession, lakehouse: Lakehouse, table: FeatureTable, day: date) -> WriteResult:
    from pyspark.sql import functions as F

    in_day = F.col(table.date_column) == F.lit(day)
    staged = lakehouse.read_spark(spark, staging_name(table)).where(in_day).select(*table.columns)
    if not lakehouse.exists(table.name):
        return _merge(lakehouse, table, staged, day, replace=False)
    published = lakehouse.read_spark(spark, table.name).where(in_day).select(*table.columns)
    if staged.exceptAll(published).isEmpty() and published.exceptAll(staged).isEmpty():
        return _unchanged(lakehouse, table, day)
    keys = list(table.keys)
    orphans = not published.select(keys).exceptAll(staged.select(keys)).isEmpty()
    return _merge(lakehouse, table, staged, day, replace=orphans)


def _publish_arrow(lakehouse: Lakehouse, table: FeatureTable, day: date) -> WriteResult:
    in_day = [(table.date_column, "=", day)]
    staged = lakehouse.read(staging_name(table), filters=in_day, columns=table.columns)
    if not lakehouse.exists(table.name):
        return _merge(lakehouse, table, staged, day, replace=False)
    published = lakehouse.read(table.name, filters=in_day, columns=table.columns).cast(staged.schema)
    order = [(k, "ascending") for k in table.keys]
    if staged.num_rows == published.num_rows and staged.sort_by(order).equals(published.sort_by(order)):
        return _unchanged(lakehouse, table, day)
    keys = list(table.keys)
    orphans = published.select(keys).join(staged.select(keys), keys, join_type="left anti").num_rows > 0
    return _merge(lakehouse, table, staged, day, replace=orphans)


def _merge(lakehouse: Lakehouse, table: FeatureTable, rows: object, day: date, *, replace: bool) -> WriteResult:
    partition = {table.date_column: day}
    keys = (*table.keys, table.date_column)  # the partition column in the predicate prunes the merge's scan
    if hasattr(rows, "sparkSession"):
        if replace:
            return lakehouse.write_spark(rows, table.name, mode="replace_partition", partition=partition)
        return lakehouse.write_spark(rows, table.name, mode="merge", keys=keys, partition_by=[table.date_column])
    if replace:
        log.info("%s %s: published keys missing from staging; replacing the partition", table.name, day)
        return lakehouse.replace_partition(table.name, rows, partition=partition)
    return lakehouse.merge(table.name, rows, keys=keys, partition_by=[table.date_column])


def _unchanged(lakehouse: Lakehouse, table: FeatureTable, day: date) -> WriteResult:
    log.info("%s %s: published partition already equals the staged rows; nothing to merge", table.name, day)
    return WriteResult(table.name, lakehouse.version(table.name), 0, "merge", skipped=True)


def publish_feature_dates(
    lakehouse: Lakehouse,
    settings: Settings,
    table_name: str,
    days: list[date],
    spark: SparkSession | None = None,
    *,
    stale_as_of: datetime | str | None = None,
    run_id: str = "",
) -> WriteResult:
    """Publish the staged, validated partition of every date in `days` (`publish_feature_table` per date);
    one result for the run: the last version, the rows written, skipped when no date changed anything.

    With `stale_as_of` (from `stage_feature_run`, or its ISO text), the stale marks on those dates made before it are
    cleared once every date is published: their recomputation read the corrected bronze.
    """
    from mlops.usecase import usecase_of

    table = usecase_of(settings).features.table(table_name)
    results = [publish_feature_table(spark, lakehouse, table, day) for day in days]
    if stale_as_of:
        as_of = datetime.fromisoformat(stale_as_of) if isinstance(stale_as_of, str) else stale_as_of
        clear_stale(lakehouse, table.name, days, marked_before=as_of, run_id=run_id)
    if len(results) == 1:
        return results[0]
    written = [r for r in results if not r.skipped]
    rows = sum(r.rows for r in results)
    return WriteResult(results[-1].table, results[-1].version, rows, results[-1].operation, skipped=not written)
