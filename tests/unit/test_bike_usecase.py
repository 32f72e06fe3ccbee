"""The bike-demand use case: it loads and checks, is registered (staging enables it), and its source replays ISLP."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from mlops.config import enabled_usecases
from mlops.landing_csv import read_landing_file
from mlops.quality.landing_rules import check_local_hour
from mlops.usecase.loader import check_usecase, load_usecase
from tests.unit._bike import NAME, bike_settings
from usecases.bike_demand.datasets import CALENDAR, RIDES, WEATHER
from usecases.bike_demand.labels import labels_pandas
from usecases.bike_demand.source import land_day, reference_data, select_day


def test_the_use_case_loads_and_keeps_the_contract():
    usecase = load_usecase(NAME, "usecases.bike_demand")
    check_usecase(usecase)
    assert usecase.model.task == "regression"
    assert usecase.labels.lag_days >= 1
    assert len(usecase.features.tables) >= 5 and usecase.entity_table.name == "features.forecast_hours"
    assert set(usecase.features.compute) == {t.name for t in usecase.features.tables}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_its_settings_load_in_every_environment_when_enabled(env):
    settings = bike_settings(env)
    assert settings.usecase == NAME and settings.mlflow.model_name.startswith(NAME)
    assert settings.lakehouse.root.endswith(f"/{NAME}")
    assert date(2011, 1, 1) <= settings.data.replay_start <= date(2011, 12, 31)
    last = settings.data.replay_start + timedelta(days=settings.data.replay_days - 1)
    assert last <= date(2011, 12, 31), "the replay window must stay within the data's year"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_it_is_registered_in_every_environment(env, monkeypatch):
    monkeypatch.delenv("MLOPS_USECASES", raising=False)
    assert bike_settings(env).usecases.packages[NAME] == "usecases.bike_demand"


def test_staging_runs_it_beside_flights(monkeypatch):
    """CI's integration tests run every pipeline of both built-in use cases on the staging config."""
    monkeypatch.delenv("MLOPS_USECASES", raising=False)
    assert enabled_usecases("staging") == ("flight_delay", NAME)
    assert NAME not in enabled_usecases("prod")


def test_the_reference_data_is_islps_hourly_year():
    frame = reference_data()
    assert len(frame) == 8645 and frame[["year", "month", "day"]].drop_duplicates().shape[0] == 365
    assert (frame["bikers"] == frame["casual"] + frame["registered"]).all()


def test_a_day_lands_byte_identically_on_rerun(tmp_path):
    settings = bike_settings("staging", tmp_path)
    first = land_day(settings, date(2011, 4, 15))
    contents = [p.read_bytes() for p in first]
    again = land_day(settings, date(2011, 4, 15))
    assert again == first and [p.read_bytes() for p in again] == contents
    assert [p.parent.parent.name for p in first] == ["rides", "weather", "calendar"]


def test_a_day_outside_the_data_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="2012-01-01.*2011-01-01..2011-12-31"):
        land_day(bike_settings("staging", tmp_path), date(2012, 1, 1))


@pytest.mark.parametrize(("day", "rows"), [(date(2011, 3, 13), 23), (date(2011, 11, 6), 24)])
def test_clock_change_days_keep_the_local_hour_rule(tmp_path, day, rows):
    for dataset in (RIDES, WEATHER):
        path = tmp_path / f"{dataset.name}.csv"
        path.write_bytes(select_day(dataset.name, day).to_csv(index=False, lineterminator="\n").encode())
        table = read_landing_file(path, dataset)
        assert table.num_rows == rows and check_local_hour(table, dataset) is None


def test_the_calendar_is_the_whole_year_every_day():
    assert len(select_day(CALENDAR.name, date(2011, 2, 1))) == 365
    assert select_day(CALENDAR.name, date(2011, 2, 1)).equals(select_day(CALENDAR.name, date(2011, 9, 1)))


def test_labels_are_published_a_day_after_the_forecast():
    rides = select_day(RIDES.name, date(2011, 7, 4)).assign(time_hour=lambda f: pd.to_datetime(f["time_hour"]))
    labels = labels_pandas(rides)
    forecast = pd.Timestamp("2011-07-04 00:00", tz="America/New_York")
    assert (labels["label_known_ts"] - forecast == pd.Timedelta(days=1)).all()
    assert labels["riders"].dtype == "float64" and labels["riders"].sum() == rides["bikers"].sum()
