"""Feature jobs: compute for one logical day, stage (replace the day's partition), publish idempotently."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from mlops.config import load_settings
from mlops.features.refresh import (
    compute_feature_table,
    publish_feature_table,
    stage_feature_table,
)
from mlops.lakehouse import TableNotFoundError
from tests.unit._bronze import reference_frames, to_bronze, write_bronze
from usecases.flight_delay.compute import RANGE_JOBS
from usecases.flight_delay.datasets import FLIGHTS
from usecases.flight_delay.features import FEATURE_TABLES, FLIGHT_SCHEDULE, ORIGIN_STATS, ORIGIN_WEATHER

pytestmark = pytest.mark.spark
DAY = date(2013, 1, 2)


@pytest.fixture(scope="module")
def frames():
    return reference_frames(date(2013, 1, 1), DAY, ("EWR",))


@pytest.fixture
def bronze(lakehouse, frames):
    write_bronze(lakehouse, frames)
    return lakehouse


@pytest.fixture(scope="module")
def settings():
    return load_settings("staging")


def _published(lakehouse, table, day=DAY) -> pd.DataFrame:
    rows = lakehouse.read_pandas(table.name, filters=[(table.date_column, "=", day)])
    return rows.sort_values(list(table.keys)).reset_index(drop=True)


def test_jobs_cover_every_registered_table():
    assert set(RANGE_JOBS) == {t.name for t in FEATURE_TABLES}


def test_compute_feature_table_rejects_an_unknown_table(spark, bronze, settings):
    with pytest.raises(KeyError, match="registered tables"):
        compute_feature_table(spark, bronze, settings, "features.nope", DAY)


def test_compute_feature_table_emits_rows_of_the_logical_day_only(spark, bronze, settings):
    rows = compute_feature_table(spark, bronze, settings, ORIGIN_STATS.name, DAY).toPandas()
    start = pd.Timestamp(DAY)
    assert set(rows["feature_date"]) == {DAY}
    assert rows["feature_ts"].between(start, start + pd.Timedelta(hours=23)).all()
    assert len(rows) == 24  # one origin, one snapshot per hour


def test_stage_feature_table_replaces_only_the_day_partition(spark, bronze, settings, frames):
    for day in (DAY - timedelta(days=1), DAY, DAY):
        result = stage_feature_table(spark, bronze, settings, ORIGIN_WEATHER.name, day)
    staged = bronze.read_pandas("staging.origin_weather")
    observations = frames["weather"].groupby("day").size()  # EWR misses 2 hours on 2013-01-01
    assert result.table == "staging.origin_weather"
    assert staged.groupby("feature_date").size().to_dict() == {
        DAY - timedelta(days=1): observations[1],
        DAY: observations[2],
    }


@pytest.mark.parametrize("use_spark", [True, False], ids=["spark", "delta-rs"])
def test_publish_feature_table_rerun_changes_nothing(spark, bronze, settings, use_spark):
    stage_feature_table(spark, bronze, settings, ORIGIN_STATS.name, DAY)
    first = publish_feature_table(spark if use_spark else None, bronze, ORIGIN_STATS, DAY)
    content = _published(bronze, ORIGIN_STATS)
    stage_feature_table(spark, bronze, settings, ORIGIN_STATS.name, DAY)
    again = publish_feature_table(spark if use_spark else None, bronze, ORIGIN_STATS, DAY)
    assert (first.rows, again.skipped, again.version) == (24, True, first.version)
    pd.testing.assert_frame_equal(_published(bronze, ORIGIN_STATS), content)


def test_publish_feature_table_updates_changed_values(spark, bronze, settings, frames):
    stage_feature_table(spark, bronze, settings, ORIGIN_STATS.name, DAY)
    publish_feature_table(spark, bronze, ORIGIN_STATS, DAY)
    worse = frames["flights"].assign(arr_delay=frames["flights"]["arr_delay"] + 60.0)
    bronze.replace_partition(
        FLIGHTS.bronze_table, to_bronze(worse[worse["day"] == 2], FLIGHTS), partition={"date": DAY}
    )
    stage_feature_table(spark, bronze, settings, ORIGIN_STATS.name, DAY)
    result = publish_feature_table(spark, bronze, ORIGIN_STATS, DAY)
    published = _published(bronze, ORIGIN_STATS)
    assert (result.skipped, len(published)) == (False, 24)
    assert published["origin_mean_arr_delay_1d"].iloc[-1] > 30.0


def test_publish_feature_table_drops_rows_a_restage_no_longer_has(spark, bronze, settings, frames):
    stage_feature_table(spark, bronze, settings, FLIGHT_SCHEDULE.name, DAY)
    publish_feature_table(None, bronze, FLIGHT_SCHEDULE, DAY)
    day_rows = frames["flights"][frames["flights"]["day"] == 2]
    dropped = day_rows.iloc[0]
    bronze.replace_partition(FLIGHTS.bronze_table, to_bronze(day_rows.iloc[1:], FLIGHTS), partition={"date": DAY})
    stage_feature_table(spark, bronze, settings, FLIGHT_SCHEDULE.name, DAY)
    publish_feature_table(None, bronze, FLIGHT_SCHEDULE, DAY)
    published = _published(bronze, FLIGHT_SCHEDULE)
    assert len(published) == len(day_rows) - 1
    assert not ((published["carrier"] == dropped["carrier"]) & (published["flight"] == dropped["flight"])).any()


def test_publish_feature_table_needs_a_staged_table(bronze):
    with pytest.raises(TableNotFoundError, match="staging.origin_stats does not exist; stage it first"):
        publish_feature_table(None, bronze, ORIGIN_STATS, DAY)


def test_publish_feature_table_keeps_other_days(spark, bronze, settings):
    for day in (DAY - timedelta(days=1), DAY):
        stage_feature_table(spark, bronze, settings, ORIGIN_STATS.name, day)
        publish_feature_table(spark, bronze, ORIGIN_STATS, day)
    published = bronze.read_pandas(ORIGIN_STATS.name)
    # The data starts on 2013-01-01: its first outcome is known at 12:xx UTC, so snapshots start at 13:00.
    assert published.groupby("feature_date").size().to_dict() == {DAY - timedelta(days=1): 11, DAY: 24}
    assert published["feature_ts"].min() == pd.Timestamp(datetime(2013, 1, 1, 13, tzinfo=UTC))
