"""Schedules from the environment config, as Airflow timetables whose logical date is the data date."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from airflow.sdk import CronDataIntervalTimetable

if TYPE_CHECKING:
    from mlops.config import Settings

# Transient errors (a busy server, a network blip) get two retries; bad data fails without retry
# (operators raise AirflowFailException for it).
DEFAULT_ARGS = {
    "owner": "ml-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "depends_on_past": False,
}


@lru_cache(maxsize=1)
def dag_settings() -> Settings:
    """The environment's settings, read once per parse process (a small YAML, no other I/O)."""
    from mlops.config import load_settings

    return load_settings()


def data_interval_schedule(cron: str | None) -> CronDataIntervalTimetable | None:
    """A cron schedule whose run for day D has logical date D and starts once D is over (UTC)."""
    return CronDataIntervalTimetable(cron, timezone="UTC") if cron else None
