"""Test helper for the bike-demand use case: its settings, bronze from landed files, feature tables by Spark."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import LakehouseSettings, Settings, load_settings
from mlops.lakehouse import Lakehouse
from mlops.landing_csv import read_landing_file
from mlops.usecase.loader import ENV_USECASES
from usecases.bike_demand.datasets import CALENDAR, DATASETS
from usecases.bike_demand.features import FEATURE_TABLES
from usecases.bike_demand.source import select_day

NAME = "bike_demand"
INGESTED_AT = datetime(2012, 1, 1, tzinfo=UTC)


def bike_settings(env: str = "staging", root: Path | None = None) -> Settings:
    """The use case's settings (enabled through MLOPS_USECASES, as the lead will enable it), under `root`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_USECASES, NAME)
        settings = load_settings(env, usecase=NAME)
    if root is None:
        return settings
    lake = LakehouseSettings(root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    return settings.model_copy(update={"lakehouse": lake})


def days(first: date, last: date) -> list[date]:
    """Every date of [first, last]."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def landed_frames(first: date, last: date) -> dict[str, pd.DataFrame]:
    """Each dataset's delivered rows of [first, last], as parsed by its landing contract (calendar: the year)."""
    frames = {}
    for dataset in DATASETS:
        dates = [first] if dataset is CALENDAR else days(first, last)
        parts = [_parsed(dataset, day) for day in dates]
        frames[dataset.name] = pd.concat(parts, ignore_index=True)
    return frames


def _parsed(dataset, day: date) -> pd.DataFrame:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{dataset.name}.csv"
        path.write_bytes(select_day(dataset.name, day).to_csv(index=False, lineterminator="\n").encode())
        frame = read_landing_file(path, dataset).to_pandas()
    return frame.assign(date=day)


def write_bronze(lakehouse: Lakehouse, frames: dict[str, pd.DataFrame]) -> None:
    """Bronze tables of the frames, with lineage columns, as ingestion writes them (calendar unpartitioned)."""
    for dataset in DATASETS:
        lineage = {"_source_file": f"{dataset.name}.csv", "_ingested_at": INGESTED_AT, "_run_id": "test"}
        frame = frames[dataset.name].assign(**lineage)
        schema = dataset.bronze_schema
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        lakehouse.append(dataset.bronze_table, table, partition_by=None if dataset is CALENDAR else ["date"])


def write_features(spark, lakehouse: Lakehouse, settings: Settings, first: date, last: date) -> None:
    """Every feature table of [first, last], computed by its Spark job in one range."""
    from mlops.features.refresh import compute_feature_range

    for table in FEATURE_TABLES:
        rows = compute_feature_range(spark, lakehouse, settings, table.name, first, last)
        lakehouse.write_spark(rows, table.name, mode="append", partition_by=[table.date_column])


def build_lakehouse(spark, root: Path, first: date, last: date, frames: dict[str, pd.DataFrame] | None = None):
    """Bronze of [first, last] and the feature tables of its days; returns (lakehouse, settings)."""
    settings = bike_settings("staging", root)
    lakehouse = Lakehouse(settings.lakehouse.root)
    write_bronze(lakehouse, frames if frames is not None else landed_frames(first, last))
    write_features(spark, lakehouse, settings, first, last)
    return lakehouse, settings


_TEMPLATES: dict[tuple[date, date], Path] = {}


def shared_lakehouse(spark, first: date, last: date) -> tuple[Lakehouse, Settings]:
    """Bronze and features of [first, last], built once per session (read-only: copy it before writing)."""
    import tempfile

    if (first, last) not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="mlops-bike-lake-"))
        build_lakehouse(spark, root, first, last)
        _TEMPLATES[first, last] = root
    settings = bike_settings("staging", _TEMPLATES[first, last])
    return Lakehouse(settings.lakehouse.root), settings
