"""Feature catalog, Spark feature definitions on hand-made rows, and the pandas oracle on real data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from mlops.features.catalog import feature_docs_markdown
from mlops.features.refresh import compute_feature_table
from tests.unit._bronze import reference_frames, to_bronze, write_bronze
from usecases.flight_delay import definitions
from usecases.flight_delay.datasets import FLIGHTS
from usecases.flight_delay.features import (
    AGGREGATES,
    FEATURE_TABLES,
    ORIGIN_STATS,
    column_dtypes,
    feature_table,
)
from usecases.flight_delay.oracle import compute_feature_table_pandas

pytestmark = pytest.mark.spark
DAY = date(2013, 1, 2)
SPARK_TYPES = {"string", "double", "bigint", "int", "timestamp", "date"}


def _flight(hour_utc: int, minute: int = 0, **overrides: object) -> dict[str, object]:
    """One bronze flight row on 2013-01-02 (New York is UTC-5), on time unless overridden."""
    row: dict[str, object] = {
        "year": 2013, "month": 1, "day": 2, "dep_time": 900.0, "sched_dep_time": 900, "dep_delay": 0.0,
        "arr_time": 1100.0, "sched_arr_time": 1100, "arr_delay": 0.0, "carrier": "UA", "flight": 1,
        "tailnum": "N1", "origin": "EWR", "dest": "ORD", "air_time": 60.0, "distance": 719.0,
        "hour": hour_utc - 5, "minute": minute, "time_hour": datetime(2013, 1, 2, hour_utc, tzinfo=UTC),
    }  # fmt: skip
    row.update(overrides)
    return row


def _spark_flights(spark, rows: list[dict[str, object]]):
    return spark.createDataFrame(to_bronze(pd.DataFrame(rows), FLIGHTS).to_pandas())


def test_feature_table_finds_full_and_short_names():
    assert feature_table("features.origin_stats") is ORIGIN_STATS
    assert feature_table("origin_stats") is ORIGIN_STATS


def test_feature_table_unknown_name_lists_registered_tables():
    with pytest.raises(KeyError, match="features.carrier_stats"):
        feature_table("features.nope")


@pytest.mark.parametrize("table", FEATURE_TABLES, ids=lambda t: t.short_name)
def test_registry_every_column_has_a_spark_type_and_description(table):
    assert set(column_dtypes(table).values()) <= SPARK_TYPES
    assert all(f.description and f.owner and 0.0 <= f.max_null_fraction <= 1.0 for f in table.features)


def test_feature_docs_markdown_has_one_row_per_feature():
    lines = feature_docs_markdown(FEATURE_TABLES).splitlines()
    assert len(lines) == 2 + sum(len(t.features) for t in FEATURE_TABLES)
    assert "| features.aircraft_stats | plane_age | double |" in feature_docs_markdown(FEATURE_TABLES)


def test_outcome_events_apply_the_known_time_rule(spark):
    rows = [
        _flight(14, flight=1, dep_delay=10.0, air_time=60.0),  # 14:00 + 10 + 60 + 30 min
        _flight(14, flight=2, dep_time=None, dep_delay=None, arr_delay=None, air_time=None),  # cancelled
        _flight(14, flight=3, arr_delay=None, air_time=None, distance=600.0),  # diverted: 600 / 6 + 30
        _flight(14, flight=4, dep_delay=-40.0, air_time=5.0),  # never known before its scheduled departure
    ]
    events = definitions.outcome_events(_spark_flights(spark, rows)).toPandas()
    start = datetime(2013, 1, 2, 14, tzinfo=UTC).timestamp()
    minutes = (events["known_s"] - start) / 60
    assert sorted(zip(minutes, events["delayed"], strict=True)) == [(0.0, 0), (0.0, 1), (100.0, 0), (130.0, 1)]


def test_outcome_events_count_cancelled_and_diverted_as_delayed(spark):
    rows = [
        _flight(14, flight=1, arr_delay=15.0),
        _flight(14, flight=2, arr_delay=16.0),
        _flight(14, flight=3, dep_time=None, dep_delay=None, arr_delay=None, air_time=None),
        _flight(14, flight=4, arr_delay=None, air_time=None),
    ]
    events = definitions.outcome_events(_spark_flights(spark, rows)).toPandas()
    assert events.sort_values("arr_delay", na_position="last")["delayed"].tolist() == [0, 1, 1, 1]


def test_flight_labels_use_the_outcome_rule(spark):
    rows = [_flight(14, flight=1, arr_delay=20.0), _flight(14, flight=2, dep_time=None, dep_delay=None, arr_delay=None)]
    labels = definitions.flight_labels(_spark_flights(spark, rows)).orderBy("flight").toPandas()
    assert labels["delayed"].tolist() == [1, 1]
    assert labels["label_known_ts"].tolist() == [pd.Timestamp("2013-01-02 15:30"), pd.Timestamp("2013-01-02 14:00")]


def test_origin_stats_window_includes_outcomes_known_exactly_at_the_snapshot(spark):
    # Known at 14:00 (cancelled, scheduled 14:00): counted from the 14:00 snapshot, gone at 14:00 next day.
    rows = [_flight(14, dep_time=None, dep_delay=None, arr_delay=None, air_time=None)]
    flights = _spark_flights(spark, rows)
    today = definitions.entity_stats(flights, ORIGIN_STATS, DAY).toPandas().set_index("feature_ts")
    assert today.index.min() == pd.Timestamp("2013-01-02 14:00")  # no snapshots before any known outcome
    assert today.loc[pd.Timestamp("2013-01-02 14:00"), "origin_flights_1d"] == 1
    assert today.loc[pd.Timestamp("2013-01-02 14:00"), "origin_delay_rate_1d"] == 1.0
    tomorrow = definitions.entity_stats(flights, ORIGIN_STATS, date(2013, 1, 3)).toPandas().set_index("feature_ts")
    assert tomorrow.loc[pd.Timestamp("2013-01-03 13:00"), "origin_flights_1d"] == 1
    assert tomorrow.loc[pd.Timestamp("2013-01-03 14:00"), "origin_flights_1d"] == 0


def test_origin_stats_mean_arrival_delay_skips_cancelled_flights(spark):
    rows = [
        _flight(10, flight=1, arr_delay=30.0),
        _flight(10, flight=2, arr_delay=-10.0),
        _flight(10, flight=3, dep_time=None, dep_delay=None, arr_delay=None, air_time=None),
    ]
    snap = definitions.entity_stats(_spark_flights(spark, rows), ORIGIN_STATS, DAY).toPandas()
    last = snap.sort_values("feature_ts").iloc[-1]
    assert (last["origin_flights_1d"], last["origin_mean_arr_delay_1d"]) == (3, 10.0)
    assert last["origin_delay_rate_1d"] == pytest.approx(2 / 3)


def test_aircraft_stats_emit_only_change_hours(spark):
    rows = [_flight(10, arr_delay=20.0)]  # known 10:00 + 60 + 30 min = 11:30 -> bucket 12:00
    planes = spark.createDataFrame([("N1", 2001.0)], "tailnum string, year double")
    snap = definitions.aircraft_stats(_spark_flights(spark, rows), planes, DAY).toPandas()
    assert snap["feature_ts"].dt.hour.tolist() == [12]
    assert snap.iloc[0][["aircraft_flights_24h", "aircraft_last_arr_delay", "plane_age"]].tolist() == [1, 20.0, 12.0]


def test_flight_schedule_calendar_features(spark):
    rows = [_flight(14, minute=30)]
    sched = definitions.flight_schedule(_spark_flights(spark, rows), DAY, lead_minutes=120).toPandas().iloc[0]
    assert sched["prediction_ts"] == pd.Timestamp("2013-01-02 12:30")
    assert sched["sched_dep_ts"] == pd.Timestamp("2013-01-02 14:30")
    assert (sched["sched_dep_hour"], sched["day_of_week"], sched["days_to_holiday"]) == (9, 2, 1)


@pytest.fixture(scope="module")
def real_bronze(spark, tmp_path_factory):
    """Bronze tables of EWR flights and weather of 2013-01-01 .. 2013-01-03, and all planes."""
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse(str(tmp_path_factory.mktemp("oracle") / "lakehouse"))
    frames = reference_frames(date(2013, 1, 1), date(2013, 1, 3), ("EWR",))
    written = write_bronze(lakehouse, frames)
    return lakehouse, {name: table.to_pandas() for name, table in written.items()}


@pytest.mark.parametrize("table", FEATURE_TABLES, ids=lambda t: t.short_name)
@pytest.mark.parametrize("day", [date(2013, 1, 2), date(2013, 1, 3)])
def test_spark_features_equal_pandas_oracle_on_real_data(spark, real_bronze, table, day):
    from mlops.config import load_settings

    lakehouse, frames = real_bronze
    computed = compute_feature_table(spark, lakehouse, load_settings("staging"), table.name, day).toArrow()
    got = computed.to_pandas().sort_values(list(table.keys)).reset_index(drop=True)
    want = compute_feature_table_pandas(table.name, day, frames)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-12)


def test_aggregate_lookback_covers_the_longest_window():
    for spec in AGGREGATES.values():
        assert spec.lookback_days * 24 >= max(hours for _, hours in spec.windows) + 48
