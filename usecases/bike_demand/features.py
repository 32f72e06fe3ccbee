"""The bike-demand feature catalog: the forecast hours (entities) and four trailing-aggregate tables.

Publication rule (when data becomes usable, one rule for features and labels): the operator publishes a
day's hourly rentals and weather observations at the end of that day, 00:00 Washington DC time of the next
day. A snapshot built from day X is therefore valid from the end of X (`feature_ts`), and its
`feature_date` is X. The forecast of day D is made at 00:00 local on D (`prediction_ts`), the moment day
D - 1 is published, so every trailing window ends with D - 1 and no value of D or later is ever used.
"""

from __future__ import annotations

from mlops.features.catalog import FeatureDefinition, FeatureTable

OWNER = "ml-platform"
FORECAST_KEY = ("year", "month", "day", "hour")
HOUR_WINDOW_DAYS = 7  # hour_profile: the same hour of the last 7 published days
WEEKDAY_WINDOW_WEEKS = 4  # weekday_hour_profile: the same weekday and hour of the last 4 weeks
DAILY_WINDOWS_DAYS = (7, 28)  # daily_demand and daily_weather: trailing means over these many days

KEY_DTYPES = {
    "year": "bigint",
    "month": "bigint",
    "day": "bigint",
    "hour": "bigint",
    "day_of_week": "int",
    "prediction_ts": "timestamp",
    "feature_ts": "timestamp",
    "feature_date": "date",
}


def _f(name: str, description: str, dtype: str = "double", **kwargs: float | bool | None) -> FeatureDefinition:
    return FeatureDefinition(name, description, dtype, owner=OWNER, **kwargs)  # type: ignore[arg-type]


def _riders(name: str, description: str, high: float = 2000.0, nulls: float = 0.05) -> FeatureDefinition:
    return _f(name, description, min_value=0.0, max_value=high, max_null_fraction=nulls)


FORECAST_HOURS = FeatureTable(
    name="features.forecast_hours",
    entity=FORECAST_KEY,
    timestamp_column="prediction_ts",
    description=(
        "One row per local hour of the target day (23 on the spring clock change; the repeated autumn hour is "
        "one row, as in the data), valid from the forecast time, 00:00 local on that day; its calendar facts "
        "are known in advance (the published calendar snapshot)."
    ),
    features=(
        _f("hour", "Local hour of the day (entity column)", "bigint", min_value=0, max_value=23),
        _f("day_of_week", "Day of week of the target day, Monday=0 .. Sunday=6", "int", min_value=0, max_value=6),
        _f("holiday", "1 when the target day is a DC public holiday", "int", min_value=0, max_value=1),
        _f("workingday", "1 when the target day is neither weekend nor holiday", "int", min_value=0, max_value=1),
        _f("target_ts", "Start of the target hour, UTC", "timestamp", max_null_fraction=0.0, model_input=False),
    ),
)

HOUR_PROFILE = FeatureTable(
    name="features.hour_profile",
    entity=("hour",),
    timestamp_column="feature_ts",
    description="Per local hour of the day, at each day's publication: riders of that hour over the last 7 days.",
    features=(
        # Null when the published day lacks the hour (0.1% of 2011's hours; a whole night in a storm).
        _riders("riders_hour_last_1d", "Riders in this hour of the latest published day", nulls=0.5),
        _riders("riders_hour_mean_7d", "Mean riders in this hour over the last 7 published days"),
        _f(
            "casual_share_hour_7d",
            "Share of casual riders in this hour over the last 7 days",
            min_value=0.0,
            max_value=1.0,
            max_null_fraction=0.2,  # null when no ride at all in the hour all week (night hours in winter)
        ),
    ),
)

WEEKDAY_HOUR_PROFILE = FeatureTable(
    name="features.weekday_hour_profile",
    entity=("day_of_week", "hour"),
    timestamp_column="feature_ts",
    description=(
        "Per weekday and local hour, at each day's publication: riders of that hour on that weekday over the last "
        "4 weeks. Only the published day's weekday changes, so a day emits its 24 hours."
    ),
    max_age_hours=8 * 24,  # the same weekday last week: published 6 days before the forecast, 7 with a gap
    features=(
        _riders("riders_week_ago", "Riders in this hour on the same weekday one week earlier", nulls=0.5),
        _riders("riders_weekday_hour_mean_4w", "Mean riders in this hour on the same weekday over the last 4 weeks"),
    ),
)

DAILY_DEMAND = FeatureTable(
    name="features.daily_demand",
    entity=(),
    timestamp_column="feature_ts",
    description="System-wide daily riders at each day's publication: the latest day and trailing means.",
    features=(
        _riders("riders_day_1d", "Riders on the latest published day", high=50000.0),
        _riders("riders_day_mean_7d", "Mean daily riders over the last 7 published days", high=50000.0),
        _riders("riders_day_mean_28d", "Mean daily riders over the last 28 published days", high=50000.0),
        _f("casual_share_7d", "Share of casual riders over the last 7 days", min_value=0.0, max_value=1.0),
    ),
)

DAILY_WEATHER = FeatureTable(
    name="features.daily_weather",
    entity=(),
    timestamp_column="feature_ts",
    description="Observed weather at each day's publication: the latest day, its last hour, and trailing 7 days.",
    features=(
        _f("temp_mean_1d", "Mean temperature of the latest day (normalised: (t + 8 C) / 47)", min_value=0, max_value=1),
        _f("temp_last", "Temperature of the latest observed hour (normalised)", min_value=0.0, max_value=1.0),
        _f("temp_mean_7d", "Mean temperature over the last 7 days (normalised)", min_value=0.0, max_value=1.0),
        _f("hum_mean_1d", "Mean relative humidity of the latest day (0..1)", min_value=0.0, max_value=1.0),
        _f("windspeed_mean_1d", "Mean wind speed of the latest day (normalised: / 67)", min_value=0.0, max_value=1.0),
        _f("wet_hours_1d", "Hours of rain or snow on the latest day", "bigint", min_value=0, max_value=24),
        _f("wet_hours_7d", "Hours of rain or snow over the last 7 days", "bigint", min_value=0, max_value=168),
    ),
)

FEATURE_TABLES: tuple[FeatureTable, ...] = (
    FORECAST_HOURS,
    HOUR_PROFILE,
    WEEKDAY_HOUR_PROFILE,
    DAILY_DEMAND,
    DAILY_WEATHER,
)
