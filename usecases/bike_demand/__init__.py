"""Bike demand: riders per hour of Capital Bikeshare (Washington DC, 2011), forecast at 00:00 for the day ahead.

The second built-in use case, on ISLP's Bikeshare data (hourly rentals, weather and calendar of 2011). Entities
are the local hours of a day; the forecast is made at 00:00 local on that day, when the previous day's counts
and weather are published, and its labels are published a day later.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field

from mlops.config import DataSettings
from mlops.usecase import Entity, FeatureSpec, UseCase

NAME = "bike_demand"


class BikeDataSettings(DataSettings):
    """Which days of 2011 an environment replays (ISLP's Bikeshare covers 2011 only)."""

    replay_start: date = Field(date(2011, 4, 1), ge=date(2011, 1, 1), le=date(2011, 12, 31))
    replay_days: int = Field(35, ge=1, le=365)


def usecase() -> UseCase:
    """The bike-demand use case (imports only light modules; Spark code loads when a job runs)."""
    from usecases.bike_demand.compute import RANGE_JOBS
    from usecases.bike_demand.datasets import DATASETS
    from usecases.bike_demand.features import FEATURE_TABLES, FORECAST_HOURS, FORECAST_KEY, KEY_DTYPES
    from usecases.bike_demand.labels import LABELS
    from usecases.bike_demand.model import MODEL
    from usecases.bike_demand.source import land_day

    return UseCase(
        name=NAME,
        description=__doc__.splitlines()[0],
        datasets=DATASETS,
        land_day=land_day,
        entity=Entity(
            keys=FORECAST_KEY,
            table=FORECAST_HOURS.name,
            time_column="prediction_ts",
            noun="hour",
            prediction_time_rule="00:00 Washington DC time on the target day, when the previous day is published",
        ),
        features=FeatureSpec(tables=FEATURE_TABLES, compute=RANGE_JOBS, key_dtypes=KEY_DTYPES),
        labels=LABELS,
        model=MODEL,
        config_dir=str(Path(__file__).resolve().parent / "config"),
        data_settings=BikeDataSettings,
    )
