"""Point-in-time join: hand-computed matches, age limits, chaining, and a leakage test on real data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import load_settings
from mlops.features.pit import max_ages, point_in_time_join, prediction_entities
from mlops.features.refresh import compute_feature_table
from mlops.lakehouse import Lakehouse
from mlops.schemas import SPARK_TO_ARROW
from tests.unit._bronze import reference_frames, write_bronze
from usecases.flight_delay import usecase
from usecases.flight_delay.features import (
    AIRCRAFT_STATS,
    FEATURE_TABLES,
    FLIGHT_KEY,
    FLIGHT_SCHEDULE,
    ORIGIN_STATS,
    ROUTE_STATS,
    FeatureTable,
    column_dtypes,
)
from usecases.flight_delay.oracle import outcome_events

USECASE = usecase()
pytestmark = pytest.mark.spark


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2013, 1, 2, hour, minute, tzinfo=UTC)


def _write(lakehouse: Lakehouse, table: FeatureTable, rows: list[dict[str, object]]) -> None:
    """Hand-made rows of a registered feature table (unspecified columns null, feature_date 2013-01-02)."""
    schema = pa.schema([(c, SPARK_TO_ARROW[t]) for c, t in column_dtypes(table).items()])
    full = [{"feature_date": date(2013, 1, 2), **row} for row in rows]
    lakehouse.append(table.name, pa.Table.from_pylist(full, schema=schema), partition_by=["feature_date"])


def _origin_rows(lakehouse: Lakehouse) -> None:
    _write(
        lakehouse,
        ORIGIN_STATS,
        [
            {"origin": "EWR", "feature_ts": _at(10), "origin_flights_1d": 10, "origin_delay_rate_1d": 0.1},
            {"origin": "EWR", "feature_ts": _at(12), "origin_flights_1d": 12, "origin_delay_rate_1d": 0.2},
            {"origin": "JFK", "feature_ts": _at(11), "origin_flights_1d": 7, "origin_delay_rate_1d": 0.3},
        ],
    )


def _entities(spark, rows: list[tuple[str, datetime]]):
    return spark.createDataFrame(rows, "origin string, prediction_ts timestamp")


def test_pit_join_takes_the_latest_row_at_or_before_t(spark, lakehouse):
    _origin_rows(lakehouse)
    entities = _entities(spark, [("EWR", _at(9, 59)), ("EWR", _at(10)), ("EWR", _at(11, 59)), ("EWR", _at(12))])
    result = point_in_time_join(spark, entities, lakehouse, [ORIGIN_STATS], max_age=timedelta(hours=6))
    got = result.frame.orderBy("prediction_ts").toPandas()
    assert got["origin_flights_1d"].tolist()[1:] == [10, 10, 12]  # t == feature_ts is included
    assert np.isnan(got["origin_flights_1d"].iloc[0])  # nothing at or before 09:59


def test_pit_join_nulls_and_counts_rows_older_than_max_age(spark, lakehouse):
    _origin_rows(lakehouse)
    entities = _entities(spark, [("EWR", _at(13)), ("EWR", _at(14, 1)), ("LGA", _at(13))])
    result = point_in_time_join(spark, entities, lakehouse, [ORIGIN_STATS], max_age=timedelta(hours=2))
    got = result.frame.orderBy("origin", "prediction_ts").toPandas()
    assert got["origin_delay_rate_1d"].iloc[0] == 0.2
    assert got["origin_delay_rate_1d"].iloc[1:].isna().all()  # 14:01 - 12:00 > 2 h; LGA has no row
    match = result.stats.table("origin_stats")
    assert (result.stats.rows, match.matched, match.too_old, match.missing) == (3, 1, 1, 1)


def test_pit_join_age_limit_boundary_is_inclusive(spark, lakehouse):
    _origin_rows(lakehouse)
    entities = _entities(spark, [("JFK", _at(13))])  # the JFK row of 11:00 is exactly 2 h old
    result = point_in_time_join(
        spark, entities, lakehouse, [ORIGIN_STATS], max_age={"origin_stats": timedelta(hours=2)}
    )
    assert result.frame.first()["origin_flights_1d"] == 7


def test_pit_join_chains_tables_on_columns_an_earlier_table_attached(spark, lakehouse):
    key = {"year": 2013, "month": 1, "day": 2, "carrier": "UA", "flight": 1, "origin": "EWR"}
    _write(lakehouse, FLIGHT_SCHEDULE, [{**key, "prediction_ts": _at(12), "dest": "ORD", "tailnum": "N1"}])
    _write(lakehouse, ROUTE_STATS, [{"origin": "EWR", "dest": "ORD", "feature_ts": _at(11), "route_flights_28d": 5}])
    entities = spark.createDataFrame([(*key.values(), _at(12))], [*FLIGHT_KEY, "prediction_ts"])
    result = point_in_time_join(spark, entities, lakehouse, [FLIGHT_SCHEDULE, ROUTE_STATS], max_age=timedelta(hours=48))
    row = result.frame.first()
    assert (row["dest"], row["tailnum"], row["route_flights_28d"]) == ("ORD", "N1", 5)


def test_prediction_entities_read_the_schedule_of_the_dates(spark, lakehouse):
    key = {"year": 2013, "month": 1, "day": 2, "carrier": "UA", "flight": 1, "origin": "EWR"}
    _write(lakehouse, FLIGHT_SCHEDULE, [{**key, "prediction_ts": _at(12), "dest": "ORD"}])
    entities = prediction_entities(spark, lakehouse, USECASE, date(2013, 1, 2), date(2013, 1, 2))
    assert entities.columns == [*FLIGHT_KEY, "prediction_ts", "entity_date"]
    assert entities.count() == 1 and entities.first()["entity_date"] == date(2013, 1, 2)
    assert prediction_entities(spark, lakehouse, USECASE, date(2013, 1, 3), date(2013, 1, 4)).count() == 0


def test_pit_join_names_the_table_whose_entity_columns_are_missing(spark, lakehouse):
    _origin_rows(lakehouse)
    entities = spark.createDataFrame([("UA", _at(12))], "carrier string, prediction_ts timestamp")
    with pytest.raises(ValueError, match=r"lack \['origin'\] needed to join features.origin_stats"):
        point_in_time_join(spark, entities, lakehouse, [ORIGIN_STATS], max_age=timedelta(hours=1))


def test_pit_join_refuses_a_table_without_max_age(spark, lakehouse):
    entities = _entities(spark, [("EWR", _at(12))])
    with pytest.raises(ValueError, match="no max_age for features.origin_stats"):
        point_in_time_join(spark, entities, lakehouse, [ORIGIN_STATS], max_age={"carrier_stats": timedelta(1)})


def test_max_ages_uses_table_limits_then_settings_default():
    limits = max_ages(load_settings("staging"), USECASE.features.tables)
    assert limits["features.origin_weather"] == timedelta(hours=3)
    assert limits["features.carrier_stats"] == timedelta(hours=48)


# ---- leakage: data observable after t never changes the features at t ------------------------
CUTOFF = datetime(2013, 1, 3, 18, tzinfo=UTC)


def _build_features(spark, frames: dict[str, pd.DataFrame], root) -> Lakehouse:
    lakehouse = Lakehouse(str(root))
    write_bronze(lakehouse, frames)
    settings = load_settings("staging")
    days = {t.name: [date(2013, 1, 3)] for t in FEATURE_TABLES}
    days[AIRCRAFT_STATS.name] = [date(2013, 1, 2), date(2013, 1, 3)]  # change-point snapshots reach back
    for table in FEATURE_TABLES:
        for day in days[table.name]:
            rows = compute_feature_table(spark, lakehouse, settings, table.name, day)
            lakehouse.write_spark(rows, table.name, mode="append", partition_by=["feature_date"])
    return lakehouse


def _after_cutoff(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Change every outcome not yet known at CUTOFF, later weather, and add later flights."""
    flights, weather = frames["flights"].copy(), frames["weather"].copy()
    cutoff = CUTOFF.timestamp()
    sched = pd.to_datetime(flights["time_hour"], utc=True) + pd.to_timedelta(flights["minute"], unit="m")
    later = (sched > CUTOFF).to_numpy()
    unknown = outcome_events(flights)["known_s"].to_numpy() > cutoff
    flights.loc[unknown, "arr_delay"] = flights.loc[unknown, "arr_delay"] + 240.0
    flights.loc[later, ["dep_delay", "air_time"]] = flights.loc[later, ["dep_delay", "air_time"]] + 90.0
    flights.loc[later & (flights["flight"] % 3 == 0).to_numpy(), ["dep_time", "dep_delay", "arr_delay"]] = np.nan
    extra = flights[later].tail(20).assign(flight=lambda f: f["flight"] + 9000, tailnum="N0NEW", dest="ORD")
    obs_later = pd.to_datetime(weather["time_hour"], utc=True) > CUTOFF
    weather.loc[obs_later, ["temp", "precip", "visib"]] = [99.0, 2.0, 0.5]
    return {**frames, "flights": pd.concat([flights, extra], ignore_index=True), "weather": weather}


def test_pit_join_features_at_t_ignore_data_observed_after_t(spark, tmp_path):
    frames = reference_frames(date(2013, 1, 1), date(2013, 1, 3), ("EWR",))
    before = _build_features(spark, frames, tmp_path / "before")
    after = _build_features(spark, _after_cutoff(frames), tmp_path / "after")
    entities = prediction_entities(spark, before, USECASE, date(2013, 1, 3), date(2013, 1, 3))
    entities = entities.where(entities.prediction_ts <= CUTOFF)
    limits = max_ages(load_settings("staging"), USECASE.features.tables)
    joined = []
    for lake in (before, after):
        result = point_in_time_join(spark, entities, lake, USECASE.features.tables, max_age=limits)
        joined.append(result.frame.toPandas().sort_values(list(FLIGHT_KEY)))
        result.unpersist()
    assert len(joined[0]) > 100
    pd.testing.assert_frame_equal(joined[0].reset_index(drop=True), joined[1].reset_index(drop=True))
    # The mutation is real: snapshots after the cutoff did change.
    late = [lake.read_pandas(ORIGIN_STATS.name).query("feature_ts > @CUTOFF") for lake in (before, after)]
    assert (
        not late[0]
        .sort_values("feature_ts")
        .reset_index(drop=True)
        .equals(late[1].sort_values("feature_ts").reset_index(drop=True))
    )
