"""Tests of ingestion from the landing zone into bronze: lineage, idempotent reruns, planes merge."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.ingestion import ingest_day, read_landing_file, validate_landing
from mlops.lakehouse import Lakehouse
from mlops.landing import landing_path
from usecases.flight_delay.datasets import FLIGHTS, PLANES
from usecases.flight_delay.source import land_day

DAY = date(2013, 1, 2)


@pytest.fixture
def settings(tmp_path):
    """Staging settings (EWR only) with the landing zone and lakehouse in tmp_path."""
    lake = LakehouseSettings(root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"))
    base = load_settings("staging")  # files are read as soon as landed: the landing protocol has its own tests
    quality = base.quality.model_copy(update={"landing_stable_seconds": 0})
    return base.model_copy(update={"lakehouse": lake, "quality": quality})


@pytest.fixture
def lake(settings) -> Lakehouse:
    return Lakehouse.from_settings(settings)


def test_read_landing_file_parses_the_dataset_schema(settings):
    (path,) = land_day(settings, DAY, datasets=("flights",))
    table = read_landing_file(path, FLIGHTS)
    assert table.schema == FLIGHTS.schema
    assert table.num_rows == len(pd.read_csv(path))
    assert table["time_hour"][0].as_py().isoformat() == "2013-01-02T10:00:00+00:00"


def test_validate_landing_passes_a_real_day(settings):
    land_day(settings, DAY, datasets=("weather",))
    result = validate_landing(settings, "weather", DAY, "run-1")
    assert result.success and result.asset_name == "raw_weather"


def test_ingest_day_appends_rows_with_lineage_columns(settings, lake):
    (path,) = land_day(settings, DAY, datasets=("flights",))
    result = ingest_day(settings, lake, "flights", DAY, "manual__1")
    bronze = lake.read("bronze.flights")
    assert (result.table, result.rows, result.skipped) == ("bronze.flights", bronze.num_rows, False)
    assert bronze.num_rows == len(pd.read_csv(path)) > 0
    assert bronze.schema.names == FLIGHTS.bronze_schema.names
    assert set(bronze["date"].to_pylist()) == {DAY}
    assert set(bronze["_source_file"].to_pylist()) == {str(path)}
    assert set(bronze["_run_id"].to_pylist()) == {"manual__1"}
    assert bronze["_ingested_at"].type == pa.timestamp("us", tz="UTC")
    assert lake.table("bronze.flights").metadata().partition_columns == ["date"]


def test_ingest_day_rerun_stores_nothing(settings, lake):
    land_day(settings, DAY, datasets=("flights",))
    first = ingest_day(settings, lake, "flights", DAY, "run-1")
    second = ingest_day(settings, lake, "flights", DAY, "run-2")
    assert second.skipped and second.rows == 0 and second.version == first.version
    assert lake.read("bronze.flights").num_rows == first.rows
    assert second.summary()["skipped"] is True


def test_ingest_day_appends_a_second_day_beside_the_first(settings, lake):
    land_day(settings, DAY, datasets=("flights",))
    land_day(settings, date(2013, 1, 3), datasets=("flights",))
    first = ingest_day(settings, lake, "flights", DAY, "run-1")
    second = ingest_day(settings, lake, "flights", date(2013, 1, 3), "run-1")
    assert lake.read("bronze.flights").num_rows == first.rows + second.rows
    assert second.version == first.version + 1


def test_ingest_day_merges_planes_snapshots_on_tailnum(settings, lake):
    land_day(settings, DAY, datasets=("planes",))
    land_day(settings, date(2013, 1, 3), datasets=("planes",))
    first = ingest_day(settings, lake, "planes", DAY, "run-1")
    second = ingest_day(settings, lake, "planes", date(2013, 1, 3), "run-2")
    bronze = lake.read("bronze.planes")
    assert bronze.num_rows == first.rows == len(pd.read_csv(landing_path(settings, "planes", DAY)))
    assert second.version == first.version + 1 and not second.skipped
    assert set(bronze["date"].to_pylist()) == {date(2013, 1, 3)}
    assert bronze.schema.names == PLANES.bronze_schema.names


def test_ingest_day_missing_file_names_the_path(settings, lake):
    with pytest.raises(FileNotFoundError, match="flights/date=2013-01-02/flights.csv"):
        ingest_day(settings, lake, "flights", DAY, "run-1")
    assert not lake.exists("bronze.flights")


def test_ingest_day_rejects_an_unknown_dataset(settings, lake):
    with pytest.raises(ValueError, match="'airports'"):
        ingest_day(settings, lake, "airports", DAY, "run-1")
