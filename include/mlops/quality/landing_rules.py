"""Landing-contract rules across columns and deliveries: the local-hour rule and the row-count band.

The raw suite (`suites.raw_suite`) checks each column on its own; these rules relate columns of one row
(a UTC time column against its date parts and local hour) and one delivery against the recent ones (its row
count against the median of the last days in bronze). Both are declared on the use case's `Dataset`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from mlops.lakehouse import Lakehouse
    from mlops.usecase import Dataset

LOCAL_HOUR, ROW_COUNT_BAND = "contract.local_hour", "contract.row_count_band"


@dataclass(frozen=True)
class RuleFailure:
    """One contract rule a landing file broke: the rule, the columns it relates, and what was seen."""

    rule: str
    columns: tuple[str, ...]
    detail: str

    def describe(self) -> str:
        """`contract.rule on columns a, b: detail`."""
        where = f" on columns {', '.join(self.columns)}" if self.columns else ""
        return f"{self.rule}{where}: {self.detail}"


def check_landing_rules(table: pa.Table, ds: Dataset, recent_rows: list[int]) -> list[RuleFailure]:
    """Every cross-column and cross-delivery rule `ds` declares that `table` breaks (empty: all hold)."""
    failures = [check_local_hour(table, ds), check_row_count(table.num_rows, ds, recent_rows)]
    return [f for f in failures if f is not None]


def check_local_hour(table: pa.Table, ds: Dataset) -> RuleFailure | None:
    """Rows whose time column is not the start of their local hour (date parts + hour in the declared zone).

    Rows with a null or impossible date part or hour are left to the column rules (not null, ranges).
    """
    import pandas as pd

    rule = ds.local_hour
    if rule is None or ds.date_parts is None or ds.time_column is None or table.num_rows == 0:
        return None
    year, month, day = ds.date_parts
    frame = table.select([year, month, day, rule.hour, ds.time_column]).to_pandas()
    parts = frame[[year, month, day, rule.hour]].set_axis(["year", "month", "day", "hour"], axis=1)
    local = pd.to_datetime(parts, errors="coerce")
    summer, winter = (
        local.dt.tz_localize(rule.time_zone, ambiguous=[flag] * len(local), nonexistent="NaT").dt.tz_convert("UTC")
        for flag in (True, False)
    )
    actual = pd.to_datetime(frame[ds.time_column], utc=True)
    bad = local.notna() & actual.notna() & (actual != summer) & (actual != winter)
    if not bad.any():
        return None
    row = int(bad.to_numpy().nonzero()[0][0])
    expected = summer[row].isoformat() if pd.notna(summer[row]) else "a skipped hour (clock change)"
    detail = (
        f"{ds.time_column} must be {year}-{month}-{day} {rule.hour}:00 in {rule.time_zone}, in UTC; "
        f"{int(bad.sum())} of {len(frame)} rows differ, first data row {row + 1}: {ds.time_column} "
        f"{actual[row].isoformat()} but {local[row]:%Y-%m-%d %H}:00 {rule.time_zone} is {expected}"
    )
    return RuleFailure(LOCAL_HOUR, (ds.time_column, year, month, day, rule.hour), detail)


def check_row_count(rows: int, ds: Dataset, recent_rows: list[int]) -> RuleFailure | None:
    """A row count outside `ds.row_count_band` times the median of the recent deliveries' counts."""
    if ds.row_count_band is None or not recent_rows:
        return None
    low, high = row_count_bounds(ds.row_count_band, recent_rows)
    if low <= rows <= high:
        return None
    median = statistics.median(recent_rows)
    detail = (
        f"{rows} rows is outside {ds.row_count_band[0]:g}..{ds.row_count_band[1]:g} x the median {median:g} of "
        f"the last {len(recent_rows)} deliveries in {ds.bronze_table} (allowed {low}..{high}); if the source "
        f"really changed, widen row_count_band in the use case's contract"
    )
    return RuleFailure(ROW_COUNT_BAND, (), detail)


def row_count_bounds(band: tuple[float, float], recent_rows: list[int]) -> tuple[int, int]:
    """(lowest, highest) row count allowed: the band around the median of `recent_rows`, at least 1 row."""
    median = statistics.median(recent_rows)
    return max(1, math.floor(median * band[0])), max(1, math.ceil(median * band[1]))


def recent_row_counts(lakehouse: Lakehouse, ds: Dataset, day: date) -> list[int]:
    """Row counts of the last `ds.row_count_history` days in bronze before `day`, oldest first.

    A whole-table snapshot (`per_day=False`) gives the bronze table's row count; no bronze table gives [].
    Days are looked for up to four times the history back, so a few missed deliveries do not empty it.
    """
    import pyarrow.compute as pc

    if ds.row_count_band is None or not lakehouse.exists(ds.bronze_table):
        return []
    if not ds.per_day:
        return [lakehouse.table(ds.bronze_table).to_pyarrow_dataset().count_rows()]
    first = day - timedelta(days=4 * ds.row_count_history)
    dates = lakehouse.read(ds.bronze_table, columns=["date"], filters=[("date", "<", day), ("date", ">=", first)])
    counts = pc.value_counts(dates["date"]).to_pylist()
    by_day = sorted((c["values"], c["counts"]) for c in counts)
    return [n for _, n in by_day[-ds.row_count_history :]]
