"""Delta Lake tables named `<layer>.<table>`: idempotent, atomic reads and writes via delta-rs or Spark."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFound

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings

log = logging.getLogger(__name__)

TABLE_NAME = re.compile(r"^(?P<layer>[a-z][a-z0-9_]*)\.(?P<table>[a-z][a-z0-9_]*)$")
DELTA_SPARK_CLASS = "io.delta.tables.DeltaTable"


class TableNotFoundError(LookupError):
    """The named table has never been written."""


class SchemaMismatchError(ValueError):
    """Incoming data does not match the table's schema; nothing was written."""


@dataclass(frozen=True)
class WriterId:
    """Identity of one logical write (Delta application transaction): app id plus a version."""

    app_id: str
    version: int = 1

    def __post_init__(self) -> None:
        if not self.app_id or self.version < 0:
            raise ValueError(f"WriterId needs a non-empty app_id and version >= 0, got {self}")


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the table version after it, rows written, whether it was skipped."""

    table: str
    version: int
    rows: int
    operation: str
    skipped: bool = False

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and asset-event metadata."""
        return {
            "table": self.table,
            "version": self.version,
            "rows": self.rows,
            "operation": self.operation,
            "skipped": self.skipped,
        }


def parse_table_name(name: str) -> tuple[str, str]:
    """Split `<layer>.<table>`; raise ValueError showing the bad name otherwise."""
    match = TABLE_NAME.match(name)
    if not match:
        raise ValueError(f"Table name {name!r} is not of the form '<layer>.<table>' (lower snake_case)")
    return match["layer"], match["table"]


class Lakehouse:
    """The tables of one environment, under one root (local path or object-store URI)."""

    def __init__(self, root: str, storage_options: Mapping[str, str] | None = None) -> None:
        self.root = root.rstrip("/")
        self.storage_options = dict(storage_options or {})

    @classmethod
    def from_settings(cls, settings: Settings) -> Lakehouse:
        """The lakehouse of the settings' environment."""
        return cls(settings.lakehouse.root)

    # ---- naming and metadata -------------------------------------------------------------
    def uri(self, name: str) -> str:
        """Location of table `<layer>.<table>` under the root."""
        layer, table = parse_table_name(name)
        return f"{self.root}/{layer}/{table}"

    def exists(self, name: str) -> bool:
        """True when the table has at least one commit."""
        return DeltaTable.is_deltatable(self.uri(name), storage_options=self.storage_options or None)

    def table(self, name: str, version: int | None = None) -> DeltaTable:
        """The delta-rs handle of a table, optionally at a version."""
        try:
            return DeltaTable(self.uri(name), version=version, storage_options=self.storage_options or None)
        except _DeltaTableNotFound as exc:
            raise TableNotFoundError(f"Table {name} does not exist at {self.uri(name)}") from exc

    def version(self, name: str) -> int:
        """Latest committed version."""
        return self.table(name).version()

    def history(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first (operation, parameters, timestamp, app transactions)."""
        return self.table(name).history(limit)

    def schema(self, name: str) -> pa.Schema:
        """Arrow schema of the table."""
        return pa.schema(self.table(name).schema().to_arrow())

    # ---- reads ---------------------------------------------------------------------------
    def read(
        self,
        name: str,
        *,
        version: int | None = None,
        as_of: datetime | str | None = None,
        columns: Sequence[str] | None = None,
        filters: Any = None,
    ) -> pa.Table:
        """Read latest, at a version, or as of a timestamp (the last commit at or before it)."""
        if version is not None and as_of is not None:
            raise ValueError(f"Read {name} at a version or a timestamp, not both ({version}, {as_of})")
        dt = self.table(name, version=version)
        if as_of is not None:
            dt.load_as_version(as_of if isinstance(as_of, datetime) else datetime.fromisoformat(as_of))
        return dt.to_pyarrow_table(columns=list(columns) if columns else None, filters=filters)

    def read_pandas(self, name: str, **kwargs: Any) -> pd.DataFrame:
        """`read` as a pandas DataFrame."""
        return self.read(name, **kwargs).to_pandas()

    # ---- writes --------------------------------------------------------------------------
    def append(
        self,
        name: str,
        data: Any,
        *,
        writer: WriterId | None = None,
        partition_by: Sequence[str] | None = None,
    ) -> WriteResult:
        """Append rows; with a writer identity, a second write by the same writer stores nothing.

        The identity is committed atomically with the rows (Delta `txn` action), so a retried task
        that already committed is detected, and a task killed mid-write leaves no partial data.
        """
        arrow = self._conform(name, data)
        if writer is not None and self._already_written(name, writer):
            log.info("%s: writer %s v%s already committed; nothing appended", name, writer.app_id, writer.version)
            return WriteResult(name, self.version(name), 0, "append", skipped=True)
        write_deltalake(
            self.uri(name),
            arrow,
            mode="append",
            partition_by=list(partition_by) if partition_by else None,
            storage_options=self.storage_options or None,
            commit_properties=_commit_properties(writer),
        )
        return WriteResult(name, self.version(name), arrow.num_rows, "append")

    def merge(
        self,
        name: str,
        data: Any,
        *,
        keys: Sequence[str],
        partition_by: Sequence[str] | None = None,
        writer: WriterId | None = None,
    ) -> WriteResult:
        """Upsert on `keys`: matching rows are updated, new rows inserted; creates the table if absent."""
        if not keys:
            raise ValueError(f"merge into {name} needs at least one key column")
        arrow = self._conform(name, data)
        missing = [k for k in keys if k not in arrow.column_names]
        if missing:
            raise SchemaMismatchError(f"merge into {name}: key columns {missing} are not in the data")
        if not self.exists(name):
            return self.append(name, arrow, writer=writer, partition_by=partition_by)
        if writer is not None and self._already_written(name, writer):
            return WriteResult(name, self.version(name), 0, "merge", skipped=True)
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        metrics = (
            self.table(name)
            .merge(arrow, predicate, source_alias="s", target_alias="t", commit_properties=_commit_properties(writer))
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        rows = int(metrics.get("num_target_rows_inserted", 0)) + int(metrics.get("num_target_rows_updated", 0))
        return WriteResult(name, self.version(name), rows, "merge")

    def replace_partition(
        self,
        name: str,
        data: Any,
        *,
        partition: Mapping[str, Any],
        partition_by: Sequence[str] | None = None,
    ) -> WriteResult:
        """Atomically replace the rows of one partition (e.g. `{"date": date(2013, 1, 1)}`).

        Every incoming row must belong to that partition; other partitions are untouched.
        """
        if not partition:
            raise ValueError(f"replace_partition on {name} needs a partition, e.g. {{'date': ...}}")
        arrow = self._conform(name, data)
        for column, value in partition.items():
            if column not in arrow.column_names:
                raise SchemaMismatchError(f"replace_partition on {name}: column {column!r} is not in the data")
            outside = arrow.num_rows - arrow.filter(pa.compute.equal(arrow[column], pa.scalar(value))).num_rows
            if outside:
                raise ValueError(f"replace_partition on {name}: {outside} rows have {column} != {value!r}")
        if not self.exists(name):
            return self.append(name, arrow, partition_by=partition_by or list(partition))
        write_deltalake(
            self.uri(name),
            arrow,
            mode="overwrite",
            predicate=" AND ".join(f"{c} = {_sql_literal(v)}" for c, v in partition.items()),
            storage_options=self.storage_options or None,
        )
        return WriteResult(name, self.version(name), arrow.num_rows, "replace_partition")

    # ---- Spark ---------------------------------------------------------------------------
    def read_spark(self, spark: SparkSession, name: str, version: int | None = None) -> DataFrame:
        """A Spark DataFrame of the table: Delta data source if available, else its active files."""
        if delta_spark_available(spark):
            reader = spark.read.format("delta")
            if version is not None:
                reader = reader.option("versionAsOf", version)
            return reader.load(self.uri(name))
        from mlops.spark import arrow_to_spark_schema

        dt = self.table(name, version=version)
        schema = arrow_to_spark_schema(pa.schema(dt.schema().to_arrow()))
        files = dt.file_uris()
        if not files:
            return spark.createDataFrame([], schema)
        return spark.read.schema(schema).option("basePath", self.uri(name)).parquet(*files)

    def write_spark(
        self,
        df: DataFrame,
        name: str,
        *,
        mode: str = "append",
        keys: Sequence[str] | None = None,
        partition: Mapping[str, Any] | None = None,
        partition_by: Sequence[str] | None = None,
        writer: WriterId | None = None,
    ) -> WriteResult:
        """Write a Spark DataFrame with the same semantics as `append`/`merge`/`replace_partition`.

        Without the delta-spark jars, Spark computes and hands Arrow to delta-rs for the commit.
        """
        if mode not in ("append", "merge", "replace_partition"):
            raise ValueError(f"write_spark mode must be append, merge or replace_partition, got {mode!r}")
        if delta_spark_available(df.sparkSession):
            from mlops.spark import write_with_delta_spark

            return write_with_delta_spark(
                self, df, name, mode=mode, keys=keys, partition=partition, partition_by=partition_by, writer=writer
            )
        arrow = df.toArrow()
        if mode == "append":
            return self.append(name, arrow, writer=writer, partition_by=partition_by)
        if mode == "merge":
            return self.merge(name, arrow, keys=keys or (), partition_by=partition_by, writer=writer)
        return self.replace_partition(name, arrow, partition=partition or {}, partition_by=partition_by)

    # ---- internals -----------------------------------------------------------------------
    def _already_written(self, name: str, writer: WriterId) -> bool:
        if not self.exists(name):
            return False
        committed = self.table(name).transaction_version(writer.app_id)
        return committed is not None and committed >= writer.version

    def _conform(self, name: str, data: Any) -> pa.Table:
        """Arrow table cast to the existing table's schema; SchemaMismatchError names bad columns."""
        arrow = to_arrow(data)
        if not self.exists(name):
            return arrow
        return conform_schema(name, arrow, self.schema(name))


def to_arrow(data: Any) -> pa.Table:
    """Arrow table from Arrow, pandas, or a list of record batches."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_arrow") and not hasattr(data, "iloc"):
        return data.to_arrow()
    if hasattr(data, "iloc"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, Iterable):
        return pa.Table.from_batches(list(data))
    raise TypeError(f"Cannot write {type(data).__name__}; pass Arrow, pandas or Spark data")


def conform_schema(name: str, data: pa.Table, target: pa.Schema) -> pa.Table:
    """Cast `data` to `target`, or raise SchemaMismatchError naming missing, extra and mistyped columns."""
    have, want = set(data.column_names), set(target.names)
    missing, extra = sorted(want - have), sorted(have - want)
    mistyped = []
    columns = []
    for field in target:
        if field.name not in have:
            continue
        column = data[field.name]
        if column.type != field.type:
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                mistyped.append(f"{field.name} ({data.schema.field(field.name).type} != {field.type})")
        columns.append(column)
    if missing or extra or mistyped:
        parts = [
            f"missing columns {missing}" if missing else "",
            f"unexpected columns {extra}" if extra else "",
            f"wrong types {mistyped}" if mistyped else "",
        ]
        raise SchemaMismatchError(
            f"Schema mismatch writing {name}: " + "; ".join(p for p in parts if p) + ". The table is unchanged."
        )
    return pa.Table.from_arrays(columns, schema=target)


def delta_spark_available(spark: SparkSession) -> bool:
    """True when the Delta Spark data source classes are on the session's classpath."""
    try:
        spark._jvm.java.lang.Class.forName(DELTA_SPARK_CLASS)  # noqa: SLF001 - py4j is the only probe
    except Exception:  # noqa: BLE001 - py4j raises its own error types; any failure means "not available"
        return False
    return True


def _commit_properties(writer: WriterId | None) -> CommitProperties | None:
    if writer is None:
        return None
    return CommitProperties(app_transactions=[Transaction(writer.app_id, writer.version)])


def _sql_literal(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)
