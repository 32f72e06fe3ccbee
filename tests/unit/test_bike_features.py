"""Bike-demand features by their Spark jobs on real 2011 data: gates, hand-checked values, PIT join, label lag,
and the leakage test (data published after the forecast time never changes the features at it)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops.features.pit import max_ages, point_in_time_join, prediction_entities
from mlops.quality import run_gate
from mlops.quality.suites import feature_suite
from mlops.training.dataset import TrainingWindow, build_training_set, labelled_entities
from mlops.usecase import usecase_of
from tests.unit._bike import build_lakehouse, landed_frames, shared_lakehouse
from usecases.bike_demand.features import DAILY_DEMAND, FEATURE_TABLES, FORECAST_KEY, HOUR_PROFILE

pytestmark = pytest.mark.spark
FIRST, LAST = date(2011, 3, 4), date(2011, 4, 28)
DAY = date(2011, 4, 20)  # a Wednesday


@pytest.fixture(scope="module")
def lake(spark):
    return shared_lakehouse(spark, FIRST, LAST)


@pytest.fixture(scope="module")
def rides() -> pd.DataFrame:
    frame = landed_frames(DAY - timedelta(days=8), DAY)["rides"]
    return frame.set_index(["date", "hour"])


@pytest.fixture(scope="module")
def training(spark, lake):
    lakehouse, settings = lake
    return build_training_set(spark, lakehouse, settings, TrainingWindow(LAST, 28, 3, 7, 1)).frame


@pytest.mark.parametrize("table", FEATURE_TABLES, ids=lambda t: t.short_name)
def test_each_table_passes_its_feature_gate_on_real_days(lake, table, tmp_path):
    lakehouse, settings = lake
    rows = lakehouse.read_pandas(table.name)
    for day in (DAY - timedelta(days=1), DAY):
        suite = feature_suite(table, day, None, settings)
        frame = rows[rows[table.date_column] == day].reset_index(drop=True)
        gate = run_gate(frame, suite, store_dir=tmp_path, asset_name=table.short_name, build_docs=False)
        assert gate.success, gate.message()
        assert len(frame) == {"daily_demand": 1, "daily_weather": 1}.get(table.short_name, 24)


def test_trailing_values_are_those_of_the_published_days(lake, rides):
    lakehouse, _ = lake
    profile = lakehouse.read_pandas(HOUR_PROFILE.name).set_index(["feature_date", "hour"])
    week = [DAY - timedelta(days=i) for i in range(7)]
    eight = rides.loc[[(d, 8) for d in week], "bikers"]
    assert profile.loc[(DAY, 8), "riders_hour_last_1d"] == rides.loc[(DAY, 8), "bikers"]
    assert profile.loc[(DAY, 8), "riders_hour_mean_7d"] == pytest.approx(eight.mean())
    daily = lakehouse.read_pandas(DAILY_DEMAND.name).set_index("feature_date")
    assert daily.loc[DAY, "riders_day_1d"] == rides.loc[DAY, "bikers"].sum()
    published = pd.Timestamp(DAY + timedelta(days=1), tz="America/New_York").tz_convert("UTC")
    assert daily.loc[DAY, "feature_ts"] == published


def test_the_pit_join_gives_each_forecast_hour_the_days_before_it(training, rides):
    day = training[training["entity_date"] == DAY].set_index("hour")
    assert len(day) == 24
    for hour in (0, 8, 17):
        assert day.loc[hour, "riders_hour_last_1d"] == rides.loc[(DAY - timedelta(days=1), hour), "bikers"]
        assert day.loc[hour, "riders_week_ago"] == rides.loc[(DAY - timedelta(days=7), hour), "bikers"]
        assert day.loc[hour, "riders"] == rides.loc[(DAY, hour), "bikers"]
    assert (day["riders_day_1d"] == rides.loc[DAY - timedelta(days=1), "bikers"].sum()).all()


def test_every_model_input_is_attached_in_the_training_window(training, lake):
    usecase = usecase_of(lake[1])
    nulls = training[list(usecase.features.model_features())].isna().mean()
    assert nulls.max() < 0.05, nulls[nulls > 0].to_dict()
    assert len(training) >= 27 * 24 - 5


@pytest.mark.parametrize(("lag", "unknown"), [(0, 24), (1, 0)])
def test_labels_are_not_known_before_their_lag(spark, lake, lag, unknown):
    """Cutoff 00:00 UTC after the window's last day + lag: with no lag, the last day's 24 labels are not yet
    published (00:00 Washington DC time is 04:00 UTC); the use case's lag of one day makes all known."""
    lakehouse, _ = lake
    usecase = usecase_of(lake[1])
    window = TrainingWindow(DAY, 3, 1, 1, label_lag_days=lag)
    rows, unlabelled = labelled_entities(spark, lakehouse, usecase, window)
    assert (rows.count(), unlabelled) == (72 - unknown, unknown)


# ---- leakage: data published after the forecast time never changes the features at it -------------------
LEAK_FIRST, LEAK_DAY = date(2011, 4, 1), date(2011, 4, 10)


def _after_forecast(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Change every ride and weather row of LEAK_DAY and later (published after its forecast time)."""
    rides, weather = frames["rides"].copy(), frames["weather"].copy()
    later = rides["date"] >= LEAK_DAY
    rides.loc[later, ["casual", "registered", "bikers"]] *= 3
    later = weather["date"] >= LEAK_DAY
    weather.loc[later, ["weathersit", "temp", "hum"]] = ["heavy rain/snow", 0.99, 0.99]
    return {**frames, "rides": rides, "weather": weather}


def test_features_at_the_forecast_time_ignore_data_published_after_it(spark, tmp_path):
    frames = landed_frames(LEAK_FIRST, LEAK_DAY + timedelta(days=1))
    last = LEAK_DAY + timedelta(days=1)
    before, settings = build_lakehouse(spark, tmp_path / "before", LEAK_FIRST, last, frames)
    after, _ = build_lakehouse(spark, tmp_path / "after", LEAK_FIRST, last, _after_forecast(frames))
    usecase = usecase_of(settings)
    entities = prediction_entities(spark, before, usecase, LEAK_DAY, LEAK_DAY)
    joined = []
    for lake in (before, after):
        result = point_in_time_join(
            spark, entities, lake, usecase.features.tables, max_age=max_ages(settings, usecase.features.tables)
        )
        joined.append(result.frame.toPandas().sort_values(list(FORECAST_KEY)).reset_index(drop=True))
        result.unpersist()
    assert len(joined[0]) == 24 and joined[0]["riders_day_1d"].notna().all()
    pd.testing.assert_frame_equal(joined[0], joined[1])
    # The mutation is real: every trailing table's snapshots of the changed days did move.
    for table in FEATURE_TABLES[1:]:
        late = [lake.read_pandas(table.name).query("feature_date >= @LEAK_DAY") for lake in (before, after)]
        feature = table.joined_features[0].name
        assert not np.array_equal(
            late[0].sort_values(list(table.keys))[feature], late[1].sort_values(list(table.keys))[feature]
        )
