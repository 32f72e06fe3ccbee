"""Landing contracts of the bike-demand use case: Capital Bikeshare 2011 (ISLP's Bikeshare), one CSV per day."""

from __future__ import annotations

from mlops.usecase import Column, Dataset, LocalHour

# Washington DC: the data's hours are local wall-clock hours; time_hour is their start in UTC.
TIME_ZONE = "America/New_York"
DC_HOUR = LocalHour(hour="hour", time_zone=TIME_ZONE)
WEATHER_SITUATIONS = ("clear", "cloudy/misty", "light rain/snow", "heavy rain/snow")
WET_SITUATIONS = ("light rain/snow", "heavy rain/snow")


def _c(name: str, dtype: str, lo: float | None = None, hi: float | None = None, **kwargs: object) -> Column:
    return Column(name, dtype, min_value=lo, max_value=hi, required=True, **kwargs)  # type: ignore[arg-type]


def _day_columns() -> tuple[Column, ...]:
    return (
        _c("year", "int64", 2011, 2100),
        _c("month", "int64", 1, 12),
        _c("day", "int64", 1, 31),
        _c("hour", "int64", 0, 23, description="local hour of day (Washington DC)"),
        _c("time_hour", "timestamp", description="start of the local hour, UTC"),
    )


# Every column of the source is always present (ISLP ships no missing value), so every column is required.
# Ranges hold for every 2011 row (the counts with ~3x headroom over the year's maximum, 651 riders an hour);
# the local hour, the bands and the raw suite pass on every real day (tests/unit/test_bike_contract_real_data.py).
# A day has 24 rows except where the system recorded no hour (the 2011-01-27 snow storm: 8 rows); its rows
# over the median of the 7 days before range 0.35 .. 1.04, so (0.25, 1.5) passes them all and refuses a
# tenth-size day, while a doubled delivery fails the unique keys.
RIDES = Dataset(
    name="rides",
    columns=(
        *_day_columns(),
        _c("casual", "int64", 0, 2000, description="rentals by casual (non-member) riders in the hour"),
        _c("registered", "int64", 0, 5000, description="rentals by registered members in the hour"),
        _c("bikers", "int64", 0, 6000, description="all rentals in the hour: casual + registered"),
    ),
    keys=("year", "month", "day", "hour"),
    date_parts=("year", "month", "day"),
    time_column="time_hour",
    local_hour=DC_HOUR,
    row_count_band=(0.25, 1.5),
    description="Hourly bike rentals of Capital Bikeshare (Washington DC), by casual and registered riders.",
)

WEATHER = Dataset(
    name="weather",
    columns=(
        *_day_columns(),
        _c("weathersit", "string", allowed=WEATHER_SITUATIONS, max_length=16, description="weather situation"),
        _c("temp", "float64", 0, 1, description="temperature, normalised: (t + 8 C) / 47"),
        _c("atemp", "float64", 0, 1, description="feels-like temperature, normalised: (t + 16 C) / 66"),
        _c("hum", "float64", 0, 1, description="relative humidity / 100"),
        _c("windspeed", "float64", 0, 1, description="wind speed / 67"),
    ),
    keys=("year", "month", "day", "hour"),
    date_parts=("year", "month", "day"),
    time_column="time_hour",
    local_hour=DC_HOUR,
    row_count_band=(0.25, 1.5),
    description="Hourly weather observed in Washington DC (normalised as the source ships it).",
)

CALENDAR = Dataset(
    name="calendar",
    columns=(
        _c("year", "int64", 2011, 2100),
        _c("month", "int64", 1, 12),
        _c("day", "int64", 1, 31),
        _c("season", "int64", 1, 4, description="1 winter, 2 spring, 3 summer, 4 autumn"),
        _c("holiday", "int64", 0, 1, description="1: a DC public holiday"),
        _c("weekday", "int64", 0, 6, description="0 Sunday .. 6 Saturday"),
        _c("workingday", "int64", 0, 1, description="1: neither weekend nor holiday"),
    ),
    keys=("year", "month", "day"),
    per_day=False,
    row_count_band=(0.5, 2.0),
    description="The year's calendar (DC holidays, working days), published in advance: a daily whole-year snapshot.",
)

DATASETS = (RIDES, WEATHER, CALENDAR)
