"""The same feature tables in pandas, on one machine: a correctness oracle for the Spark jobs and a speed baseline.

The algorithm differs on purpose: instead of hourly bucket sums and range windows, each entity's outcomes
are sorted by their exact known time and every snapshot hour H is answered with binary searches for the
window (H - w, H] over cumulative sums. Rules (outcome-known time, delayed, windows, snapshot grid) come
from the registry, so both engines implement one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd

from usecases.flight_delay.features import (
    AGGREGATES,
    AIRCRAFT_STATS,
    DELAY_THRESHOLD_MINUTES,
    EXISTENCE_TAIL_HOURS,
    FLIGHT_KEY,
    FLIGHT_SCHEDULE,
    ORIGIN_WEATHER,
    OUTCOME_BUFFER_MINUTES,
    SLOW_MILES_PER_MINUTE,
    WEATHER_FEATURES,
    AggregateSpec,
    FeatureTable,
    feature_table,
)

HOUR = 3600
_EPOCH = pd.Timestamp(0, tz="UTC")


def _in_dates(frame: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    dates = pd.to_datetime(frame["date"]).dt.date
    return frame[(dates >= first) & (dates <= last)]


def _seconds(ts: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(ts, utc=True) - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype="float64")


def _to_ts(seconds: np.ndarray | pd.Series) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(seconds, dtype="int64"), unit="s", utc=True))


def _finish(frame: pd.DataFrame, table: FeatureTable, day: date) -> pd.DataFrame:
    frame = frame.assign(**{table.date_column: day})
    return frame[list(table.columns)].sort_values(list(table.keys)).reset_index(drop=True)


def flight_schedule(flights: pd.DataFrame, day: date, lead_minutes: int = 120) -> pd.DataFrame:
    """Schedule features of the flights of local date `day` (see definitions.flight_schedule)."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    rows = _in_dates(flights, day, day).copy()
    sched = _seconds(rows["time_hour"]) + rows["minute"].to_numpy() * 60
    local = pd.to_datetime(rows[["year", "month", "day"]])
    holidays = USFederalHolidayCalendar().holidays(day - timedelta(days=400), day + timedelta(days=400))
    rows["prediction_ts"] = _to_ts(sched - lead_minutes * 60).to_numpy()
    rows["sched_dep_ts"] = _to_ts(sched).to_numpy()
    rows["sched_dep_hour"] = rows["hour"]
    rows["day_of_week"] = local.dt.weekday.to_numpy()
    rows["days_to_holiday"] = [int(abs((holidays - d).days).min()) for d in local]
    return _finish(rows, FLIGHT_SCHEDULE, day)


def origin_weather(weather: pd.DataFrame, day: date) -> pd.DataFrame:
    """The local date's hourly observations per origin (see definitions.origin_weather)."""
    rows = _in_dates(weather, day, day).rename(columns={"time_hour": "obs_ts"})
    for spec in ORIGIN_WEATHER.features:
        if spec.name in WEATHER_FEATURES and spec.min_value is not None:
            rows[spec.name] = rows[spec.name].where(rows[spec.name].between(spec.min_value, spec.max_value))
    return _finish(rows[["origin", "obs_ts", *WEATHER_FEATURES]], ORIGIN_WEATHER, day)


def flight_outcomes(flights: pd.DataFrame) -> pd.DataFrame:
    """Flight key, when the outcome became known (`known_s`, epoch seconds) and `delayed` (0/1) per flight."""
    events = outcome_events(flights)
    return flights[list(FLIGHT_KEY)].assign(known_s=events["known_s"].to_numpy(), delayed=events["delayed"].to_numpy())


def outcome_events(flights: pd.DataFrame) -> pd.DataFrame:
    """Exact outcome-known time (`known_s`, epoch seconds) and delayed flag per flight."""
    sched = _seconds(flights["time_hour"]) + flights["minute"].to_numpy() * 60
    air = flights["air_time"].fillna(flights["distance"] / SLOW_MILES_PER_MINUTE).to_numpy()
    landed = sched + (flights["dep_delay"].fillna(0.0).to_numpy() + air + OUTCOME_BUFFER_MINUTES) * 60
    known = np.where(flights["dep_time"].isna(), sched, np.fmax(landed, sched))
    delayed = flights["arr_delay"].isna() | (flights["arr_delay"] > DELAY_THRESHOLD_MINUTES)
    return flights.assign(known_s=known, delayed=delayed.astype("int64"))[
        ["carrier", "origin", "dest", "tailnum", "arr_delay", "known_s", "delayed"]
    ]


def _snapshot_hours(known: np.ndarray, spec: AggregateSpec, start: int) -> np.ndarray:
    """Snapshot hours of one entity on the day: all 24 while it has recent outcomes, else change hours."""
    day_hours = np.arange(start, start + 24 * HOUR, HOUR, dtype="float64")
    if spec.change_points_only:
        first = np.ceil(known / HOUR) * HOUR
        changes = np.concatenate([first, first + spec.windows[0][1] * HOUR])
        return np.unique(changes[(changes >= start) & (changes < start + 24 * HOUR)])
    reach = (max(h for _, h in spec.windows) + EXISTENCE_TAIL_HOURS) * HOUR
    recent = np.searchsorted(known, day_hours, "right") - np.searchsorted(known, day_hours - reach, "right")
    return day_hours[recent > 0]


def _entity_snapshots(events: pd.DataFrame, spec: AggregateSpec, start: int) -> dict[str, np.ndarray]:
    """Every feature of one entity's snapshots, by binary search over its known-time-sorted outcomes."""
    events = events.sort_values(["known_s", "arr_delay"], na_position="first")
    known = events["known_s"].to_numpy()
    hours = _snapshot_hours(known, spec, start)
    arrived = events["arr_delay"].notna().to_numpy()
    delays = events["arr_delay"].fillna(0.0).to_numpy()
    sums = {
        "n": np.concatenate([[0], np.cumsum(np.ones(len(known)))]),
        "delayed": np.concatenate([[0], np.cumsum(events["delayed"].to_numpy())]),
        "arr": np.concatenate([[0.0], np.cumsum(delays)]),
        "n_arr": np.concatenate([[0], np.cumsum(arrived)]),
    }
    out: dict[str, np.ndarray] = {"feature_ts_s": hours}
    hi = np.searchsorted(known, hours, "right")
    for label, window in spec.windows:
        lo = np.searchsorted(known, hours - window * HOUR, "right")
        n, n_arr = sums["n"][hi] - sums["n"][lo], sums["n_arr"][hi] - sums["n_arr"][lo]
        name = f"{spec.prefix}_%s_{label}"
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name % "flights"] = n.astype("int64")
            out[name % "delay_rate"] = np.where(n > 0, (sums["delayed"][hi] - sums["delayed"][lo]) / n, np.nan)
            out[name % "mean_arr_delay"] = np.where(n_arr > 0, (sums["arr"][hi] - sums["arr"][lo]) / n_arr, np.nan)
        if spec.last_arr_delay:
            last = np.concatenate([[-1], np.maximum.accumulate(np.where(arrived, np.arange(len(known)), -1))])[hi]
            usable = (last >= 0) & (last >= lo)
            out[f"{spec.prefix}_last_arr_delay"] = np.where(usable, delays[np.maximum(last, 0)], np.nan)
    return out


def trailing_aggregates(flights: pd.DataFrame, spec: AggregateSpec, day: date) -> pd.DataFrame:
    """Snapshots of one aggregate table for the logical day (see definitions.trailing_aggregates)."""
    start = int(pd.Timestamp(day, tz="UTC").timestamp())
    events = outcome_events(flights)
    events = events[np.ceil(events["known_s"] / HOUR) * HOUR <= start + 23 * HOUR].dropna(subset=list(spec.entity))
    parts = []
    for key, group in events.groupby(list(spec.entity), sort=False):
        snap = pd.DataFrame(_entity_snapshots(group, spec, start))
        parts.append(snap.assign(**dict(zip(spec.entity, key, strict=True))))
    columns = [*spec.entity, "feature_ts_s"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return frame.assign(feature_ts=_to_ts(frame["feature_ts_s"]).to_numpy())


def compute_feature_table_pandas(
    table_name: str, day: date, frames: Mapping[str, pd.DataFrame], *, lead_minutes: int = 120
) -> pd.DataFrame:
    """The rows of `table_name` for logical day `day` from pandas bronze frames (keys: flights, weather, planes).

    Frames may hold more dates than needed; the same bronze lookback as the Spark job is applied here.
    """
    table = feature_table(table_name)
    if table.name == FLIGHT_SCHEDULE.name:
        return flight_schedule(frames["flights"], day, lead_minutes)
    if table.name == ORIGIN_WEATHER.name:
        return origin_weather(frames["weather"], day)
    spec = AGGREGATES[table.name]
    flights = _in_dates(frames["flights"], day - timedelta(days=spec.lookback_days), day)
    rows = trailing_aggregates(flights, spec, day)
    if table.name == AIRCRAFT_STATS.name:
        built = frames["planes"][["tailnum", "year"]].rename(columns={"year": "year_built"})
        rows = rows.merge(built, on="tailnum", how="left")
        rows["plane_age"] = rows["feature_ts"].dt.year - rows["year_built"]
    return _finish(rows, table, day)
