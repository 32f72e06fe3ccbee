"""Test helper: the use case's settings under a folder, bronze from the source's files, feature tables by Spark."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import LakehouseSettings, Settings, load_settings
from mlops.lakehouse import Lakehouse
from mlops.landing_csv import read_landing_file

from .. import NAME
from ..datasets import ACTIVITY, DATASETS
from ..features import FEATURE_TABLES
from ..source import select_day

PACKAGE = __name__.rsplit(".", 2)[0]  # this package's import name, wherever it lives
INGESTED_AT = datetime(2030, 1, 1, tzinfo=UTC)
FIRST, LAST = date(2024, 1, 1), date(2024, 1, 21)  # the shared lakehouse: three weeks


def usecase_settings(env: str = "staging", root: Path | None = None) -> Settings:
    """The use case's settings (registered and enabled for the call), with its tables under `root`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_USECASES", NAME)
        patch.setenv("MLOPS_SETTINGS", json.dumps({"usecases": {"packages": {NAME: PACKAGE}}}))
        settings = load_settings(env, usecase=NAME)
    if root is None:
        return settings
    lake = LakehouseSettings(root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    return settings.model_copy(update={"lakehouse": lake})


def days(first: date, last: date) -> list[date]:
    """Every date of [first, last]."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def landed_frames(settings: Settings, first: date, last: date) -> dict[str, pd.DataFrame]:
    """Each dataset's delivered rows of [first, last] as its landing contract parses them (snapshots: once)."""
    frames = {}
    for dataset in DATASETS:
        dates = days(first, last) if dataset.per_day else [last]
        frames[dataset.name] = pd.concat([_parsed(settings, dataset, d) for d in dates], ignore_index=True)
    return frames


def _parsed(settings: Settings, dataset, day: date) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{dataset.name}.csv"
        path.write_bytes(select_day(settings, dataset.name, day).to_csv(index=False, lineterminator="\n").encode())
        frame = read_landing_file(path, dataset).to_pandas()
    return frame.assign(date=day)


def write_bronze(lakehouse: Lakehouse, frames: dict[str, pd.DataFrame]) -> None:
    """Bronze tables of the frames with lineage columns, as ingestion writes them (snapshots unpartitioned)."""
    for dataset in DATASETS:
        lineage = {"_source_file": f"{dataset.name}.csv", "_ingested_at": INGESTED_AT, "_run_id": "test"}
        frame = frames[dataset.name].assign(**lineage)
        schema = dataset.bronze_schema
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        lakehouse.append(dataset.bronze_table, table, partition_by=["date"] if dataset.per_day else None)


def build_lakehouse(spark, root: Path, first: date, last: date, mutate=None) -> tuple[Lakehouse, Settings]:
    """Bronze of [first, last] (changed by `mutate(frames)` when given) and every feature table of its days."""
    from mlops.features.refresh import compute_feature_range

    settings = usecase_settings("staging", root)
    lakehouse = Lakehouse(settings.lakehouse.root)
    frames = landed_frames(settings, first, last)
    write_bronze(lakehouse, mutate(frames) if mutate else frames)
    for table in FEATURE_TABLES:
        rows = compute_feature_range(spark, lakehouse, settings, table.name, first, last)
        lakehouse.write_spark(rows, table.name, mode="append", partition_by=[table.date_column])
    return lakehouse, settings


def activity_frame(settings: Settings, first: date, last: date) -> pd.DataFrame:
    """The delivered activity rows of [first, last], indexed by (date, customer_id)."""
    return landed_frames(settings, first, last)[ACTIVITY.name].set_index(["date", "customer_id"]).sort_index()
