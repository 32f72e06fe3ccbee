"""Table upkeep of one use case: trim staging, compact small files, vacuum what no version in the window needs.

Every step keeps time travel inside the window working. Trimming `staging.*` and compacting are new Delta
versions (the rows they remove stay readable at the versions before them), and vacuum deletes only files
that a commit removed more than the window ago: a version committed inside the window still has every file
it needs. The window is `maintenance.vacuum_retention_hours`, or a table's own, longer
`delta.deletedFileRetentionDuration`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties

from mlops.errors import NothingToDo, Refusal
from mlops.lakehouse_schema import quote_identifier

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from mlops.config import MaintenanceSettings, Settings
    from mlops.lakehouse import Lakehouse

log = logging.getLogger(__name__)

STAGING_LAYER = "staging"
RETENTION_PROPERTY = "delta.deletedFileRetentionDuration"
_INTERVAL = re.compile(r"^\s*interval\s+(\d+)\s+(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)
_UNIT_HOURS = {"second": 1 / 3600, "minute": 1 / 60, "hour": 1, "day": 24, "week": 168}


class MaintenanceRefusal(Refusal, ValueError):
    """A table's own settings make the maintenance asked for unsafe or impossible."""


@dataclass(frozen=True)
class TableUpkeep:
    """What the maintenance did to one table: versions, staged rows deleted, files compacted and vacuumed."""

    table: str
    version_before: int
    version_after: int
    retention_hours: int
    staging_cutoff: date | None = None  # staging: data dates before this were deleted
    rows_deleted: int = 0
    files_compacted: int = 0  # small files rewritten ...
    files_written: int = 0  # ... into this many
    bytes_compacted: int = 0
    files_vacuumed: int = 0  # files deleted from storage
    active_files: int = 0  # files of the latest version, after the maintenance

    def describe(self) -> str:
        """One log line: the table and its figures."""
        cutoff = self.staging_cutoff
        trimmed = f"deleted {self.rows_deleted} staged rows before {cutoff}; " if cutoff else ""
        return (
            f"{self.table} v{self.version_before} -> v{self.version_after}: {trimmed}compacted "
            f"{self.files_compacted} files ({self.bytes_compacted:,} bytes) into {self.files_written}; "
            f"vacuumed {self.files_vacuumed} files removed over {self.retention_hours} h ago; "
            f"{self.active_files} active files"
        )


@dataclass(frozen=True)
class MaintenanceReport:
    """The maintenance of every table of one use case."""

    tables: tuple[TableUpkeep, ...]
    seconds: float

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom: totals, and the first data date each staging table keeps."""
        return {
            "tables": len(self.tables),
            "rows_deleted": sum(t.rows_deleted for t in self.tables),
            "files_compacted": sum(t.files_compacted for t in self.tables),
            "files_written": sum(t.files_written for t in self.tables),
            "files_vacuumed": sum(t.files_vacuumed for t in self.tables),
            "staging_cutoffs": {t.table: t.staging_cutoff.isoformat() for t in self.tables if t.staging_cutoff},
            "seconds": round(self.seconds, 1),
        }

    def details(self) -> list[dict[str, Any]]:
        """One dict per table (for a person or a test, not XCom)."""
        return [asdict(t) for t in self.tables]


def maintain_tables(lakehouse: Lakehouse, settings: Settings, run_id: str = "") -> MaintenanceReport:
    """Trim `staging.*`, compact and vacuum every Delta table of the lakehouse, one table at a time.

    Args:
        lakehouse: the use case's lakehouse.
        settings: its settings (`maintenance.*`).
        run_id: recorded in each commit's metadata (`airflow_run_id`), so the history says which run it was.

    Raises:
        NothingToDo: the lakehouse holds no table yet.
        MaintenanceRefusal: a table's `delta.deletedFileRetentionDuration` cannot be read.
    """
    started, names = time.monotonic(), lakehouse.tables()
    if not names:
        raise NothingToDo(f"No Delta tables under {lakehouse.root} yet: nothing to maintain")
    done = []
    for name in names:
        upkeep = maintain_table(lakehouse, name, settings.maintenance, run_id)
        log.info("%s", upkeep.describe())
        done.append(upkeep)
    report = MaintenanceReport(tuple(done), time.monotonic() - started)
    log.info("Maintained %d tables under %s: %s", len(done), lakehouse.root, report.summary())
    return report


def maintain_table(lakehouse: Lakehouse, name: str, rules: MaintenanceSettings, run_id: str = "") -> TableUpkeep:
    """Trim (staging only), compact, then vacuum one table; see `maintain_tables`."""
    dt = lakehouse.table(name)
    before, retention = dt.version(), retention_hours(dt, name, rules.vacuum_retention_hours)
    commit = CommitProperties(custom_metadata={"airflow_run_id": run_id, "pipeline": "table_maintenance"})
    cutoff, deleted = None, 0
    if name.split(".", 1)[0] == STAGING_LAYER:
        cutoff, deleted = _trim_staging(dt, name, rules.staging_retention_days, commit)
    compacted = dt.optimize.compact(commit_properties=commit) if rules.compact else {}
    removed = _json(compacted.get("filesRemoved"))
    vacuumed = _vacuum(lakehouse, name, dt, retention, commit)
    return TableUpkeep(
        table=name,
        version_before=before,
        version_after=dt.version(),
        retention_hours=retention,
        staging_cutoff=cutoff,
        rows_deleted=deleted,
        files_compacted=int(compacted.get("numFilesRemoved", 0)),
        files_written=int(compacted.get("numFilesAdded", 0)),
        bytes_compacted=int(removed.get("totalSize", 0)),
        files_vacuumed=vacuumed,
        active_files=len(dt.file_uris()),
    )


def retention_hours(dt: DeltaTable, name: str, hours: int) -> int:
    """The vacuum window of a table: `hours`, or the table's own `delta.deletedFileRetentionDuration` if longer.

    Raises:
        MaintenanceRefusal: the table property is not of the form `interval <n> <unit>`.
    """
    declared = dt.metadata().configuration.get(RETENTION_PROPERTY)
    if declared is None:
        return hours
    match = _INTERVAL.match(declared)
    if not match:
        raise MaintenanceRefusal(
            f"Not vacuuming {name}: its {RETENTION_PROPERTY} is {declared!r}, not 'interval <n> <unit>' "
            f"(units second ... week); fix the table property"
        )
    return max(hours, math.ceil(int(match[1]) * _UNIT_HOURS[match[2].lower()]))


def staging_cutoff(dt: DeltaTable, retention_days: int) -> tuple[str, date] | None:
    """The date partition column of a staging table and the first data date to keep, or None.

    The window counts back from the newest staged date (the data clock), so a replay or a backfill of past
    dates keeps its recent staged days whatever the wall clock says. None: the table has no date partition
    column, or no rows.
    """
    schema = pa.schema(dt.schema().to_arrow())
    columns = [c for c in dt.metadata().partition_columns if pa.types.is_date(schema.field(c).type)]
    if not columns:
        return None
    actions = pa.table(dt.get_add_actions(flatten=True))
    newest = pc.max(actions.column(f"partition.{columns[0]}")).as_py() if actions.num_rows else None
    return (columns[0], newest - timedelta(days=retention_days - 1)) if newest else None


def _trim_staging(dt: DeltaTable, name: str, retention_days: int, commit: CommitProperties) -> tuple[date | None, int]:
    """Delete the staged partitions older than the retention (a new version; nothing happens when none are)."""
    found = staging_cutoff(dt, retention_days)
    if found is None:
        log.warning("%s has no date partition column or no rows: its staged rows are not trimmed", name)
        return None, 0
    column, cutoff = found
    metrics = dt.delete(f"{quote_identifier(column)} < '{cutoff.isoformat()}'", commit_properties=commit)
    return cutoff, int(metrics.get("num_deleted_rows", 0))


def _vacuum(lakehouse: Lakehouse, name: str, dt: DeltaTable, retention: int, commit: CommitProperties) -> int:
    """Delete the files commits removed more than `retention` hours ago; return how many were still stored.

    Lite mode deletes only files a commit removed, never one a writer has yet to commit. The table's own
    retention is folded into `retention`, so delta-rs' check against its one-week default is not needed.
    delta-rs lists an expired removal again on every vacuum for as long as the log remembers it: the files
    still stored are counted first, and with none, nothing is committed.
    """
    options = {"retention_hours": retention, "enforce_retention_duration": False}
    expired = dt.vacuum(dry_run=True, **options)
    stored = _stored(lakehouse, name, expired)
    if stored:
        dt.vacuum(dry_run=False, commit_properties=commit, **options)
    return stored


def _stored(lakehouse: Lakehouse, name: str, paths: list[str]) -> int:
    """How many of a table's files (paths relative to it, maybe percent-encoded) exist in storage."""
    if not paths:
        return 0
    from pyarrow import fs

    filesystem, base = lakehouse.filesystem()
    folder = f"{base}/{name.replace('.', '/')}"
    spellings = [(path, unquote(path)) for path in paths]
    infos = filesystem.get_file_info([f"{folder}/{p}" for pair in spellings for p in pair])  # one batch
    present = {info.path for info in infos if info.type != fs.FileType.NotFound}
    return sum(1 for pair in spellings if any(f"{folder}/{p}" in present for p in pair))


def _json(value: Any) -> dict[str, Any]:
    """delta-rs reports some optimize figures as JSON text."""
    return json.loads(value) if isinstance(value, str) else dict(value or {})
