"""The bike-demand source: replays ISLP's Capital Bikeshare 2011 data day by day into the landing zone.

ISLP ships the hourly data as one table (`ISLP/data/Bikeshare.csv`: season, mnth, day = day of the year, hr,
holiday, weekday, workingday, weathersit, temp, atemp, hum, windspeed, casual, registered, bikers). The source
splits it into what an operator receives: the day's rentals, the day's weather observations, and the year's
calendar (a whole-year snapshot, the same every day). Nothing is downloaded: the file is in the installed package.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.landing import LandedFile, landing_path, write_atomic
from usecases.bike_demand.datasets import CALENDAR, DATASETS, TIME_ZONE

if TYPE_CHECKING:
    import pandas as pd

    from mlops.config import Settings

log = logging.getLogger(__name__)

YEAR = 2011  # the year ISLP's Bikeshare covers (day = 1..365)
FIRST_DAY, LAST_DAY = date(YEAR, 1, 1), date(YEAR, 12, 31)
DEFAULT_DATASETS = tuple(d.name for d in DATASETS)
BY_NAME = {d.name: d for d in DATASETS}


@cache
def reference_data() -> pd.DataFrame:
    """ISLP's Bikeshare rows with the local date (year, month, day), the hour and its UTC start (`time_hour`).

    The local hour 02:00 of 2011-03-13 does not exist (clocks went forward) and is absent from the data; the
    repeated 01:00 of 2011-11-06 is one row in the data and takes the first (daylight-time) instant.
    """
    from importlib.resources import files

    import pandas as pd

    with files("ISLP").joinpath("data", "Bikeshare.csv").open("rb") as handle:
        raw = pd.read_csv(handle)
    local_date = pd.Timestamp(FIRST_DAY) + pd.to_timedelta(raw["day"] - 1, unit="D")
    hour = raw["hr"].astype("int64")
    local = (local_date + pd.to_timedelta(hour, unit="h")).dt.tz_localize(TIME_ZONE, ambiguous=True)
    return raw.drop(columns=["day", "hr", "mnth"]).assign(
        year=local_date.dt.year.astype("int64"),
        month=local_date.dt.month.astype("int64"),
        day=local_date.dt.day.astype("int64"),
        hour=hour,
        time_hour=local.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def select_day(dataset: str, day: date) -> pd.DataFrame:
    """The rows of `dataset` delivered for `day`, in contract column order (calendar: the whole year)."""
    frame = reference_data()
    if dataset == CALENDAR.name:
        frame = frame.drop_duplicates(["year", "month", "day"])
    else:
        frame = frame[(frame["year"] == day.year) & (frame["month"] == day.month) & (frame["day"] == day.day)]
    return frame[[c.name for c in BY_NAME[dataset].columns]].reset_index(drop=True)


def land_day(settings: Settings, day: date, datasets: Sequence[str] = DEFAULT_DATASETS) -> list[Path]:
    """Write one CSV per dataset for the Washington DC local `day`; atomic, and byte-identical on rerun.

    Returns:
        The paths written, in the order of `datasets`.

    Raises:
        ValueError: `day` is outside 2011, the year the data covers.
    """
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"No bike-sharing data for {day}: ISLP's Bikeshare covers {FIRST_DAY}..{LAST_DAY}")
    return [_land_one(settings, name, day).path for name in datasets]


def _land_one(settings: Settings, dataset: str, day: date) -> LandedFile:
    target = landing_path(settings, dataset, day)
    frame = select_day(dataset, day)
    write_atomic(target, frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    log.info("Landed %s rows of %s for %s at %s", len(frame), dataset, day.isoformat(), target)
    return LandedFile(dataset, day, target, len(frame))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `python -m usecases.bike_demand.source --start 2011-04-01 --days 14` (environment from MLOPS_ENV)."""
    from mlops.config import load_settings

    parser = argparse.ArgumentParser(description="Replay Capital Bikeshare 2011 into the landing zone, day by day.")
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: data.replay_start)")
    parser.add_argument("--days", type=int, help="number of days (default: data.replay_days)")
    parser.add_argument("--env", help="environment (default: MLOPS_ENV)")
    args = parser.parse_args(argv)
    settings = load_settings(args.env, usecase="bike_demand")
    start = args.start or settings.data.replay_start
    days = args.days or settings.data.replay_days
    if days < 1:
        parser.error(f"--days must be >= 1, got {days}")
    landed = [_land_one(settings, n, start + timedelta(days=i)) for i in range(days) for n in DEFAULT_DATASETS]
    end = start + timedelta(days=days - 1)
    print(f"Landed {len(landed)} files for {start}..{end} [{settings.env}] under {settings.lakehouse.landing_root}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
