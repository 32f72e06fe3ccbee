"""Stale feature dates: published feature dates whose bronze inputs changed, waiting for a recomputation.

A bronze day rewritten by a correction marks, for each feature table that reads it, the published dates
that depend on it (the day .. the day + the table's `lookback_days`; every published date from the day on
for a whole-table snapshot). The feature refresh recomputes open marks up to its run's last date beside
its own dates, and clears them once published; a mark made while a refresh was running stays open.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from mlops.schemas import UTC_TS

if TYPE_CHECKING:
    from mlops.features.catalog import FeatureTable
    from mlops.lakehouse import Lakehouse

log = logging.getLogger(__name__)

STALE_TABLE = "audit.stale_feature_dates"
STALE_KEYS = ("table", "feature_date")
STALE_SCHEMA = pa.schema(
    [
        ("table", pa.string()),
        ("feature_date", pa.date32()),
        ("source_table", pa.string()),  # the bronze table whose day changed
        ("source_date", pa.date32()),
        ("reason", pa.string()),  # e.g. "delivery 2 of orders 2013-01-02 (sha256 1a2b...)"
        ("marked_at", UTC_TS),
        ("cleared_at", UTC_TS),  # null while open
        ("cleared_by", pa.string()),  # run id of the refresh that republished the date
    ]
)


def published_dates(lakehouse: Lakehouse, table: FeatureTable, since: date) -> list[date]:
    """The dates from `since` on that `table` has published rows for, sorted."""
    if not lakehouse.exists(table.name):
        return []
    column = table.date_column
    found = lakehouse.read(table.name, columns=[column], filters=[(column, ">=", since)])[column]
    return sorted(set(found.to_pylist()))


def dependent_dates(
    table: FeatureTable, source: str, day: date, *, snapshot: bool, published: Sequence[date]
) -> list[date]:
    """The published dates of `table` computed from bronze `source`'s `day` (pure: no tables read)."""
    if not table.reads(source):
        return []
    last = date.max if snapshot else day + timedelta(days=table.lookback_days)
    return [d for d in published if day <= d <= last]


def mark_stale(
    lakehouse: Lakehouse, tables: Iterable[FeatureTable], source: str, day: date, *, snapshot: bool, reason: str
) -> dict[str, list[date]]:
    """Mark the published dates of `tables` that depend on `source`'s `day` stale; returns them per table.

    A date already marked and not yet recomputed is marked again (its `marked_at` moves on), so a refresh
    that started before this mark does not clear it.
    """
    now, marked, rows = datetime.now(UTC), {}, []
    for table in tables:
        dates = dependent_dates(table, source, day, snapshot=snapshot, published=published_dates(lakehouse, table, day))
        if dates:
            marked[table.name] = dates
            rows += [(table.name, d, source, day, reason, now, None, None) for d in dates]
    if rows:
        data = pa.Table.from_pylist([dict(zip(STALE_SCHEMA.names, r, strict=True)) for r in rows], schema=STALE_SCHEMA)
        lakehouse.merge(STALE_TABLE, data, keys=STALE_KEYS)
        log.info("Marked stale after %s: %s", reason, {t: f"{d[0]}..{d[-1]} ({len(d)})" for t, d in marked.items()})
    return marked


def open_stale_dates(lakehouse: Lakehouse, table: str, until: date | None = None) -> list[date]:
    """The dates of feature table `table` marked stale and not recomputed yet (up to `until`), sorted."""
    return sorted(_open_marks(lakehouse, table, until))


def _open_marks(lakehouse: Lakehouse, table: str, until: date | None) -> dict[date, datetime]:
    if not lakehouse.exists(STALE_TABLE):
        return {}
    # Small table, filtered after reading: a string filter fails on files that merges wrote as string_view.
    rows = lakehouse.read(STALE_TABLE, columns=["table", "feature_date", "marked_at", "cleared_at"]).to_pylist()
    return {
        r["feature_date"]: r["marked_at"]
        for r in rows
        if r["table"] == table and r["cleared_at"] is None and (until is None or r["feature_date"] <= until)
    }


def clear_stale(
    lakehouse: Lakehouse, table: str, dates: Iterable[date], *, marked_before: datetime, run_id: str
) -> int:
    """Close the open marks of `table` on `dates` made before `marked_before` (when the recomputation read
    bronze); returns how many were closed."""
    wanted = set(dates)
    marks = _open_marks(lakehouse, table, max(wanted) if wanted else None)
    done = [d for d, at in marks.items() if d in wanted and at <= marked_before]
    if not done:
        return 0
    current = lakehouse.read(STALE_TABLE).to_pylist()
    now = datetime.now(UTC)
    rows = [
        r | {"cleared_at": now, "cleared_by": run_id}
        for r in current
        if r["table"] == table and r["feature_date"] in done
    ]
    lakehouse.merge(STALE_TABLE, pa.Table.from_pylist(rows, schema=STALE_SCHEMA), keys=STALE_KEYS)
    log.info("%s: cleared %d stale dates (%s..%s)", table, len(done), min(done), max(done))
    return len(done)
