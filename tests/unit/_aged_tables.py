"""Small Delta tables for maintenance tests, and a way to move commits into the past."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from mlops.lakehouse import Lakehouse

D1 = date(2013, 1, 1)


def rows(keys: list[int], day: date = D1, column: str = "score_date") -> pa.Table:
    """Rows `id` of one date."""
    return pa.table({"id": pa.array(keys, pa.int64()), column: pa.array([day] * len(keys), pa.date32())})


def age_commits(lake: Lakehouse, name: str, versions: range, hours: int) -> None:
    """Move commits of a table `hours` into the past: commit time, removal and add times, the log file's mtime."""
    shift_ms = hours * 3_600_000
    times = (("commitInfo", "timestamp"), ("remove", "deletionTimestamp"), ("add", "modificationTime"))
    for version in versions:
        path = Path(lake.uri(name)) / "_delta_log" / f"{version:020d}.json"
        actions = [json.loads(line) for line in path.read_text().splitlines() if line]
        for action in actions:
            for kind, field in times:
                if field in action.get(kind, {}):
                    action[kind][field] -= shift_ms
        path.write_text("".join(json.dumps(a) + "\n" for a in actions))
        stamp = path.stat().st_mtime - hours * 3600
        os.utime(path, (stamp, stamp))


def data_files(lake: Lakehouse, name: str) -> set[str]:
    """Parquet files of a table on disk, relative to it."""
    root = Path(lake.uri(name))
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet")}


def active_files(lake: Lakehouse, name: str) -> set[str]:
    """Files of the table's latest version, relative to it."""
    return set(pa.table(lake.table(name).get_add_actions()).column("path").to_pylist())


def ids(table: pa.Table) -> list[int]:
    """The sorted `id` column."""
    return sorted(table.column("id").to_pylist())


def aged_lakehouse(root: Path, aged_hours: int) -> tuple[Lakehouse, set[str]]:
    """A published table whose first five commits are `aged_hours` old, and two staging tables.

    gold.scores: v0-v3 append one small file each to one partition, v4 replaces the partition (removing
    those four files), v5 and v6 append again; v0-v4 are aged. staging.scores: ten dates (Jan 1-10), two
    rows each, partitioned by date; staging.flat: no partition. Returns the lakehouse and the four files
    v4 removed.
    """
    lake = Lakehouse(str(root))
    for i in range(4):
        lake.append("gold.scores", rows([i]), partition_by=["score_date"])
    lake.replace_partition("gold.scores", rows([10, 11]), partition={"score_date": D1})
    removed = data_files(lake, "gold.scores") - active_files(lake, "gold.scores")
    lake.append("gold.scores", rows([12]))
    lake.append("gold.scores", rows([13]))
    age_commits(lake, "gold.scores", range(5), aged_hours)
    for day in (D1 + timedelta(days=i) for i in range(10)):
        lake.replace_partition("staging.scores", rows([day.day, 100 + day.day], day), partition={"score_date": day})
    lake.append("staging.flat", pa.table({"id": [1, 2]}))
    (root / "_quality" / "results").mkdir(parents=True)  # reports beside the tables are not tables
    return lake, removed
