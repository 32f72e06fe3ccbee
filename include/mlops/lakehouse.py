"""Delta Lake tables named `<layer>.<table>`: idempotent, atomic reads and writes via delta-rs or Spark."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFound

from mlops.lakehouse_schema import (
    SchemaMismatchError,
    check_merge_keys,
    check_partition_rows,
    conform_schema,
    merge_predicates,
    partition_predicate,
    sql_equals,
    to_arrow,
)
from mlops.spark import delta_spark_available

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings

# Re-exported: callers import these from here.
__all__ = ["Lakehouse", "WriteResult", "WriterId", "TableNotFoundError", "SchemaMismatchError", "CommitFailedError"]
__all__ += ["conform_schema", "delta_spark_available", "parse_table_name", "to_arrow"]

log = logging.getLogger(__name__)

TABLE_NAME = re.compile(r"^(?P<layer>[a-z][a-z0-9_]*)\.(?P<table>[a-z][a-z0-9_]*)$")
# A write that loses a commit race is re-planned on the new snapshot this many times in all.
COMMIT_ATTEMPTS = 3


class TableNotFoundError(LookupError):
    """The named table has never been written."""


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
        return asdict(self)


def parse_table_name(name: str) -> tuple[str, str]:
    """Split `<layer>.<table>`; raise ValueError showing the bad name otherwise."""
    match = TABLE_NAME.match(name) if isinstance(name, str) else None
    if not match:
        raise ValueError(f"Table name {name!r} is not of the form '<layer>.<table>' (lower snake_case)")
    return match["layer"], match["table"]


class Lakehouse:
    """The tables of one environment, under one root (local path or object-store URI)."""

    def __init__(self, root: str, storage_options: Mapping[str, str] | None = None) -> None:
        if not root:
            raise ValueError("Lakehouse root must be a non-empty path or URI")
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

    def tables(self) -> list[str]:
        """Names of the Delta tables under the root, sorted (`<root>/<layer>/<table>` folders with a commit).

        Folders that are not lower snake_case (`_quality`, `_reports`) or hold no Delta log are left out.
        """
        from pyarrow import fs

        filesystem, base = self.filesystem()

        def folders(path: str) -> list[str]:
            found = filesystem.get_file_info(fs.FileSelector(path, allow_not_found=True))
            return sorted(info.base_name for info in found if info.type == fs.FileType.Directory)

        names = (f"{layer}.{table}" for layer in folders(base) for table in folders(f"{base}/{layer}"))
        return [name for name in names if TABLE_NAME.match(name) and self.exists(name)]

    def filesystem(self) -> tuple[Any, str]:
        """A pyarrow FileSystem on the root (local, or the object store of its URI) and the root's path in it."""
        from pyarrow import fs

        return fs.FileSystem.from_uri(self.root) if "://" in self.root else (fs.LocalFileSystem(), self.root)

    def table(self, name: str, version: int | None = None) -> DeltaTable:
        """The delta-rs handle of a table, optionally at a version."""
        if version is not None and version < 0:
            raise ValueError(f"Table {name} has no version {version}: versions start at 0")
        try:
            return DeltaTable(self.uri(name), version=version, storage_options=self.storage_options or None)
        except _DeltaTableNotFound as exc:
            raise TableNotFoundError(f"Table {name} does not exist at {self.uri(name)}") from exc
        except DeltaError as exc:
            if version is None:
                raise
            raise ValueError(f"Table {name} has no version {version}; latest is {self.version(name)}") from exc

    def version(self, name: str) -> int:
        """Latest committed version."""
        return self.table(name).version()

    def version_at(self, name: str, as_of: datetime | str) -> int:
        """The last version committed at or before `as_of` (naive datetimes are UTC)."""
        when = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        cutoff_ms = when.timestamp() * 1000
        commits = [c["version"] for c in self.history(name) if c["timestamp"] <= cutoff_ms]
        if not commits:
            raise ValueError(f"Table {name} has no version at or before {when.isoformat()} (its first commit is later)")
        return max(commits)

    def history(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first (version, operation, parameters, timestamp in ms)."""
        return self.table(name).history(limit)

    def schema(self, name: str) -> pa.Schema:
        """Arrow schema of the table."""
        return pa.schema(self.table(name).schema().to_arrow())

    def transaction_version(self, name: str, app_id: str) -> int | None:
        """Highest writer version committed by `app_id` into the table, None if it never wrote."""
        return self.table(name).transaction_version(app_id) if self.exists(name) else None

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
        if as_of is not None:
            version = self.version_at(name, as_of)
        dt = self.table(name, version=version)
        return dt.to_pyarrow_table(columns=list(columns) if columns else None, filters=filters)

    def scan(
        self, name: str, *, columns: Sequence[str] | None = None, filter: Any = None, batch_rows: int = 131_072
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Stream the latest version in record batches of up to `batch_rows` (memory: about one batch).

        `filter` is a pyarrow dataset expression (partition columns prune files). Returns the schema of
        the batches and an iterator over the non-empty ones.
        """
        dataset = self.table(name).to_pyarrow_dataset()
        schema = pa.schema([dataset.schema.field(c) for c in columns]) if columns else dataset.schema
        scanner = dataset.scanner(
            columns=list(columns) if columns else None,
            filter=filter,
            batch_size=batch_rows,
            batch_readahead=1,
            fragment_readahead=1,
        )
        return schema, (batch for batch in scanner.to_batches() if batch.num_rows)

    def read_pandas(self, name: str, **kwargs: Any) -> pd.DataFrame:
        """`read` as a pandas DataFrame."""
        return self.read(name, **kwargs).to_pandas()

    # ---- writes --------------------------------------------------------------------------
    def append(
        self, name: str, data: Any, *, writer: WriterId | None = None, partition_by: Sequence[str] | None = None
    ) -> WriteResult:
        """Append rows; with a writer identity, a second write by the same writer stores nothing.

        The identity is committed atomically with the rows (Delta `txn` action), so a retried task
        that already committed is detected, and a task killed mid-write leaves no partial data. Two
        racing writers with the same identity conflict in delta-rs; the loser then finds the winner's
        `txn` and stores nothing.
        """
        source = to_arrow(data)

        def attempt(dt: DeltaTable | None) -> WriteResult:
            arrow = conform_schema(name, source, _arrow_schema(dt)) if dt else source
            return self._append_arrow(name, dt, arrow, "append", partition_by, writer)

        return self._commit(name, "append", writer, attempt)

    def merge(
        self,
        name: str,
        data: Any,
        *,
        keys: Sequence[str],
        partition_by: Sequence[str] | None = None,
        writer: WriterId | None = None,
        delete_unmatched: Mapping[str, Any] | None = None,
    ) -> WriteResult:
        """Upsert on `keys`: changed rows are updated, new rows inserted; creates the table if absent.

        Keys must be present, non-null and unique in `data`. Rows equal to the stored ones are not
        rewritten, so re-running the same merge commits nothing. With `delete_unmatched` (column -> value,
        e.g. `{"date": day}`), stored rows with those values whose keys are not in `data` are deleted in
        the same commit: a whole-table snapshot corrected in place.
        """
        if not keys:
            raise ValueError(f"merge into {name} needs at least one key column")
        source = to_arrow(data)
        check_merge_keys(name, source, keys)

        def attempt(dt: DeltaTable | None) -> WriteResult:
            if dt is None:
                return self._append_arrow(name, dt, source, "merge", partition_by, writer)
            arrow = conform_schema(name, source, _arrow_schema(dt))
            on, changed = merge_predicates(keys, arrow.column_names)
            merger = dt.merge(
                arrow, on, source_alias="s", target_alias="t", commit_properties=_commit_properties(writer)
            )
            if changed:
                merger = merger.when_matched_update_all(predicate=changed)
            if delete_unmatched:
                scope = " AND ".join(f"t.{sql_equals(c, v)}" for c, v in delete_unmatched.items())
                merger = merger.when_not_matched_by_source_delete(predicate=scope)
            metrics = merger.when_not_matched_insert_all().execute()
            counts = ("num_target_rows_inserted", "num_target_rows_updated", "num_target_rows_deleted")
            rows = sum(int(metrics.get(count, 0)) for count in counts)
            return WriteResult(name, dt.version(), rows, "merge")

        return self._commit(name, "merge", writer, attempt)

    def replace_partition(
        self,
        name: str,
        data: Any,
        *,
        partition: Mapping[str, Any],
        partition_by: Sequence[str] | None = None,
        writer: WriterId | None = None,
    ) -> WriteResult:
        """Atomically replace the rows of one partition (e.g. `{"date": date(2013, 1, 1)}`).

        Every incoming row must belong to that partition; other partitions are untouched. A new
        table is partitioned by `partition_by`, or by the partition's columns. With a writer identity the
        replace commits it (as in `append`), so a second replace by the same writer stores nothing.
        """
        if not partition:
            raise ValueError(f"replace_partition on {name} needs a partition, e.g. {{'date': ...}}")
        source = to_arrow(data)
        check_partition_rows(name, source, partition)
        predicate = partition_predicate(partition)

        def attempt(dt: DeltaTable | None) -> WriteResult:
            if dt is None:
                layout = partition_by or list(partition)
                return self._append_arrow(name, dt, source, "replace_partition", layout, writer)
            arrow = conform_schema(name, source, _arrow_schema(dt))
            properties = _commit_properties(writer)
            write_deltalake(dt, arrow, mode="overwrite", predicate=predicate, commit_properties=properties)
            return WriteResult(name, dt.version(), arrow.num_rows, "replace_partition")

        return self._commit(name, "replace_partition", writer, attempt)

    def write_batches(
        self,
        name: str,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        *,
        writer: WriterId | None = None,
        partition: Mapping[str, Any] | None = None,
        partition_by: Sequence[str] | None = None,
    ) -> WriteResult:
        """Stream record batches into one commit: an append, or with `partition` a replace of that partition.

        Memory stays bounded by one batch plus delta-rs' write buffer, whatever the total size. The schema
        is checked before the first batch is pulled (SchemaMismatchError naming the columns, table
        unchanged), and every batch is conformed to the table's types. A writer identity makes a repeat
        store nothing, as in `append`. Batches can be consumed only once, so a lost commit race raises
        CommitFailedError instead of re-planning; nothing is committed and the caller may retry.
        """
        dt = self._load(name)
        if writer is not None and dt is not None:
            done = dt.transaction_version(writer.app_id)
            if done is not None and done >= writer.version:
                log.info("%s: writer %s v%s already committed; nothing written", name, writer.app_id, writer.version)
                return WriteResult(name, dt.version(), 0, "append", skipped=True)
        target = _arrow_schema(dt) if dt is not None else pa.schema([f.with_nullable(True) for f in schema])
        conform_schema(name, schema.empty_table(), target)  # fail fast on missing, extra or mistyped columns
        rows = 0

        def conformed() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for batch in batches:
                if partition:
                    check_partition_rows(name, pa.Table.from_batches([batch]), partition)
                rows += batch.num_rows
                yield from conform_schema(name, pa.Table.from_batches([batch]), target).to_batches()

        reader = pa.RecordBatchReader.from_batches(target, conformed())
        options: dict[str, Any] = {
            "storage_options": self.storage_options or None,
            "commit_properties": _commit_properties(writer),
        }
        operation = "replace_partition" if partition else "append"
        if dt is None:
            layout = list(partition_by or (partition or {})) or None
            write_deltalake(self.uri(name), reader, mode="append", partition_by=layout, **options)
            return WriteResult(name, self.version(name), rows, operation)
        if partition:
            write_deltalake(dt, reader, mode="overwrite", predicate=partition_predicate(partition), **options)
        else:
            write_deltalake(dt, reader, mode="append", **options)
        return WriteResult(name, dt.version(), rows, operation)

    # ---- Spark ---------------------------------------------------------------------------
    def read_spark(self, spark: SparkSession, name: str, version: int | None = None) -> DataFrame:
        """A Spark DataFrame of the table: Delta data source if available, else its active files."""
        from mlops.spark import read_table

        return read_table(self, spark, name, version)

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
        from mlops.spark import write_table

        return write_table(
            self, df, name, mode=mode, keys=keys, partition=partition, partition_by=partition_by, writer=writer
        )

    # ---- internals -----------------------------------------------------------------------
    def _load(self, name: str) -> DeltaTable | None:
        return self.table(name) if self.exists(name) else None

    def _append_arrow(
        self,
        name: str,
        dt: DeltaTable | None,
        arrow: pa.Table,
        operation: str,
        partition_by: Sequence[str] | None,
        writer: WriterId | None,
    ) -> WriteResult:
        """Append to the snapshot `dt` (or create the table) in one commit carrying the writer's txn."""
        if dt is None:
            untyped = [f.name for f in arrow.schema if pa.types.is_null(f.type)]
            if untyped:
                raise SchemaMismatchError(
                    f"Cannot create {name}: columns {untyped} have no type (every value is null); give them a type"
                )
        target = dt if dt is not None else self.uri(name)
        partitions = list(partition_by) if partition_by else None
        options = {"storage_options": self.storage_options or None, "commit_properties": _commit_properties(writer)}
        write_deltalake(target, arrow, mode="append", partition_by=partitions, **options)
        version = dt.version() if dt is not None else self.version(name)  # the handle moves to its own commit
        return WriteResult(name, version, arrow.num_rows, operation)

    def _commit(
        self, name: str, operation: str, writer: WriterId | None, attempt: Callable[[DeltaTable | None], WriteResult]
    ) -> WriteResult:
        """Run `attempt` on a fresh snapshot; re-plan it when a concurrent commit wins the race.

        The writer check and the commit use the same snapshot, so a same-writer commit made after
        the check is a delta-rs conflict (ConcurrentTransaction), seen on the next round.
        """
        for round_ in range(1, COMMIT_ATTEMPTS + 1):
            dt = self._load(name)
            done = dt.transaction_version(writer.app_id) if dt is not None and writer is not None else None
            if writer is not None and done is not None and done >= writer.version:
                log.info("%s: writer %s v%s already committed; nothing written", name, writer.app_id, writer.version)
                return WriteResult(name, dt.version(), 0, operation, skipped=True)
            try:
                return attempt(dt)
            except CommitFailedError as exc:
                if round_ == COMMIT_ATTEMPTS:
                    raise
                log.warning(
                    "%s: %s lost a commit race, retrying (%d/%d): %s", name, operation, round_, COMMIT_ATTEMPTS, exc
                )
        raise RuntimeError("unreachable: the last attempt returns or raises")


def _arrow_schema(dt: DeltaTable) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())


def _commit_properties(writer: WriterId | None) -> CommitProperties | None:
    if writer is None:
        return None
    return CommitProperties(app_transactions=[Transaction(writer.app_id, writer.version)])
