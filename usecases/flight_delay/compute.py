"""The Spark job of each flight-delay feature table: read the bronze lookback it needs, compute [first, last]."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from mlops.features.refresh import read_bronze
from usecases.flight_delay.features import (
    AGGREGATES,
    AIRCRAFT_STATS,
    CARRIER_STATS,
    FLIGHT_SCHEDULE,
    ORIGIN_STATS,
    ORIGIN_WEATHER,
    ROUTE_STATS,
    FeatureTable,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse

FLIGHTS, WEATHER, PLANES = "bronze.flights", "bronze.weather", "bronze.planes"


def compute_schedule(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, first: date, last: date
) -> DataFrame:
    """features.flight_schedule: the scheduled flights of [first, last] with their prediction time."""
    from usecases.flight_delay.definitions import flight_schedule_range

    flights = read_bronze(spark, lakehouse, FLIGHTS, first, last)
    return flight_schedule_range(flights, first, last, settings.features.prediction_lead_minutes)


def compute_weather(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, first: date, last: date
) -> DataFrame:
    """features.origin_weather: hourly observations per origin."""
    from usecases.flight_delay.definitions import origin_weather_range

    return origin_weather_range(read_bronze(spark, lakehouse, WEATHER, first, last), first, last)


def _stats_job(table: FeatureTable):  # noqa: ANN202 - a job with the FeatureJob signature
    def compute(spark: SparkSession, lakehouse: Lakehouse, settings: Settings, first: date, last: date) -> DataFrame:
        from usecases.flight_delay.definitions import aircraft_stats_range, entity_stats_range

        since = first - timedelta(days=AGGREGATES[table.name].lookback_days)
        flights = read_bronze(spark, lakehouse, FLIGHTS, since, last)
        if table.name == AIRCRAFT_STATS.name:
            return aircraft_stats_range(flights, lakehouse.read_spark(spark, PLANES), first, last)
        return entity_stats_range(flights, table, first, last)

    compute.__name__ = f"compute_{table.short_name}"
    return compute


# Feature table name -> computation for every logical day of [first, last] in one Spark job.
RANGE_JOBS = {
    FLIGHT_SCHEDULE.name: compute_schedule,
    ORIGIN_WEATHER.name: compute_weather,
    **{t.name: _stats_job(t) for t in (CARRIER_STATS, ORIGIN_STATS, ROUTE_STATS, AIRCRAFT_STATS)},
}
