"""The flight-delay feature catalog: feature tables, their keys, each feature's definition, and the outcome rule."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.features.catalog import FeatureDefinition, FeatureTable

OWNER = "ml-platform"
FLIGHT_KEY = ("year", "month", "day", "carrier", "flight", "origin")

# Outcome rule, shared by the Spark definitions and the pandas oracle (see definitions.outcome_events).
DELAY_THRESHOLD_MINUTES = 15.0  # delayed: arr_delay > 15, or no arrival at all (cancelled or diverted)
OUTCOME_BUFFER_MINUTES = 30.0  # taxi-in and reporting buffer after actual departure + air time
SLOW_MILES_PER_MINUTE = 6.0  # air time estimate when air_time is missing: distance / 360 mph
EXISTENCE_TAIL_HOURS = 48  # snapshots continue this long after an entity's last outcome left the window
LATE_OUTCOME_MARGIN_DAYS = 2  # bronze lookback margin for outcomes known long after their flight date

# Types of the non-feature columns of feature tables (features carry their own dtype).
KEY_DTYPES = {
    "year": "bigint",
    "month": "bigint",
    "day": "bigint",
    "carrier": "string",
    "flight": "bigint",
    "origin": "string",
    "dest": "string",
    "tailnum": "string",
    "prediction_ts": "timestamp",
    "obs_ts": "timestamp",
    "feature_ts": "timestamp",
    "feature_date": "date",
}


def stats_lookback_days(longest_window_hours: int) -> int:
    """Days of bronze flights before the logical day that a trailing-outcome snapshot of that day can read."""
    return -(-(longest_window_hours + EXISTENCE_TAIL_HOURS) // 24) + LATE_OUTCOME_MARGIN_DAYS


def _f(name: str, description: str, dtype: str = "double", **kwargs: float | bool | None) -> FeatureDefinition:
    return FeatureDefinition(name, description, dtype, **kwargs)  # type: ignore[arg-type]


def _stats(prefix: str, window: str, what: str, *, null_ok: float = 0.05) -> tuple[FeatureDefinition, ...]:
    return (
        _f(f"{prefix}_flights_{window}", f"Outcomes of {what} known in the trailing {window}", "bigint", min_value=0),
        _f(
            f"{prefix}_delay_rate_{window}",
            f"Share of those {what} outcomes delayed (arr_delay > 15 min, cancelled or diverted count as delayed)",
            min_value=0.0,
            max_value=1.0,
            max_null_fraction=null_ok,
        ),
        _f(
            f"{prefix}_mean_arr_delay_{window}",
            f"Mean arrival delay (minutes) of those {what} outcomes that arrived",
            min_value=-120.0,
            max_value=1500.0,
            max_null_fraction=null_ok,
        ),
    )


FLIGHT_SCHEDULE = FeatureTable(
    name="features.flight_schedule",
    entity=FLIGHT_KEY,
    timestamp_column="prediction_ts",
    description="One row per scheduled flight, valid from its prediction time (scheduled departure - lead).",
    sources=("bronze.flights",),
    features=(
        _f("carrier", "Two-letter carrier code (entity column)", "string", max_null_fraction=0.0),
        _f("origin", "NYC origin airport (entity column)", "string", max_null_fraction=0.0),
        _f("month", "Month of the scheduled local date (entity column)", "bigint", min_value=1, max_value=12),
        _f("dest", "Destination airport (FAA code)", "string", max_null_fraction=0.0),
        # Cancelled flights often have no aircraft: 0.3% of a day's flights at the median, 24.6% on the
        # 2013-02-09 blizzard (7 days of 2013 above 5%), so the limit is 30%.
        _f(
            "tailnum",
            "Aircraft planned for the flight; join key of aircraft_stats",
            "string",
            model_input=False,
            max_null_fraction=0.3,
        ),
        _f("distance", "Great-circle distance origin-destination (miles)", min_value=0.0, max_value=5000.0),
        _f("sched_dep_hour", "Scheduled departure hour, local New York time", "bigint", min_value=0, max_value=23),
        _f("day_of_week", "Day of week of the local date, Monday=0 .. Sunday=6", "int", min_value=0, max_value=6),
        _f("days_to_holiday", "Days to the nearest US federal holiday (observed)", "int", min_value=0, max_value=60),
        _f("sched_dep_ts", "Scheduled departure, UTC", "timestamp", max_null_fraction=0.0, model_input=False),
    ),
)

WEATHER_FEATURES = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")
_WEATHER_SPEC = {
    "temp": ("Temperature (F)", -30.0, 120.0, 0.05),
    "dewp": ("Dew point (F)", -40.0, 90.0, 0.05),
    "humid": ("Relative humidity (%)", 0.0, 100.0, 0.05),
    "wind_dir": ("Wind direction (degrees)", 0.0, 360.0, 0.3),
    "wind_speed": ("Wind speed (mph)", 0.0, 100.0, 0.05),
    "wind_gust": ("Wind gust (mph); null when no gust was reported", 0.0, 150.0, 1.0),
    "precip": ("Precipitation (inches) in the hour", 0.0, 5.0, 0.01),
    # 2013 stations miss pressure for up to 2/3 of a day (and wind_dir for 1/4): the limits admit those
    # known gaps per origin and day, and still stop the run on a station outage.
    "pressure": ("Sea level pressure (millibars)", 950.0, 1070.0, 0.7),
    "visib": ("Visibility (miles)", 0.0, 10.0, 0.01),
}
ORIGIN_WEATHER = FeatureTable(
    name="features.origin_weather",
    entity=("origin",),
    timestamp_column="obs_ts",
    description="Hourly weather observations at the NYC origins; a value is valid from its observation hour.",
    max_age_hours=3,
    sources=("bronze.weather",),
    features=tuple(
        _f(name, f"Origin {text}", min_value=lo, max_value=hi, max_null_fraction=nulls)
        for name, (text, lo, hi, nulls) in _WEATHER_SPEC.items()
    ),
)

CARRIER_STATS = FeatureTable(
    name="features.carrier_stats",
    entity=("carrier",),
    timestamp_column="feature_ts",
    sources=("bronze.flights",),
    lookback_days=stats_lookback_days(28 * 24),
    description="Hourly snapshots of each carrier's trailing 7- and 28-day outcomes known at the snapshot hour.",
    # Null when a carrier scheduled at an origin has no known outcome in the window: up to 6.2% of rows on
    # 93 days of 2013 (one small carrier), so 10% (calibrated on the full-year replay; 5% failed in February).
    features=_stats("carrier", "7d", "the carrier's flights", null_ok=0.1)
    + _stats("carrier", "28d", "the carrier's flights", null_ok=0.1),
)
ORIGIN_STATS = FeatureTable(
    name="features.origin_stats",
    entity=("origin",),
    timestamp_column="feature_ts",
    sources=("bronze.flights",),
    lookback_days=stats_lookback_days(24),
    description="Hourly snapshots of each origin's trailing 1-day outcomes known at the snapshot hour.",
    features=_stats("origin", "1d", "departures from the origin", null_ok=0.2),
)
ROUTE_STATS = FeatureTable(
    name="features.route_stats",
    entity=("origin", "dest"),
    timestamp_column="feature_ts",
    sources=("bronze.flights",),
    lookback_days=stats_lookback_days(28 * 24),
    description="Hourly snapshots of each route's (origin, dest) trailing 28-day outcomes known at the hour.",
    features=_stats("route", "28d", "the route's flights", null_ok=0.2),
)
AIRCRAFT_STATS = FeatureTable(
    name="features.aircraft_stats",
    entity=("tailnum",),
    timestamp_column="feature_ts",
    sources=("bronze.flights", "bronze.planes"),
    lookback_days=stats_lookback_days(24),
    description=(
        "Snapshots of each aircraft's trailing 24 h outcomes, emitted only at the hours they change "
        "(an outcome becomes known, or leaves the window), plus the aircraft's age."
    ),
    features=(
        *_stats("aircraft", "24h", "the aircraft's flights", null_ok=1.0),
        _f(
            "aircraft_last_arr_delay",
            "Arrival delay (minutes) of the aircraft's latest arrived flight known in the trailing 24 h",
            min_value=-120.0,
            max_value=1500.0,
            max_null_fraction=1.0,
        ),
        _f("plane_age", "Snapshot year minus year manufactured (bronze.planes)", min_value=0.0, max_null_fraction=0.3),
    ),
)


@dataclass(frozen=True)
class AggregateSpec:
    """How a trailing-outcome table is computed: entity, trailing windows, snapshot policy."""

    table: str
    entity: tuple[str, ...]
    prefix: str
    windows: tuple[tuple[str, int], ...]  # (label, hours): snapshot H aggregates outcomes known in (H - w, H]
    change_points_only: bool = False  # True: snapshots only at hours where the aggregate changes
    last_arr_delay: bool = False

    @property
    def lookback_days(self) -> int:
        """Days of bronze flights before the logical day that a snapshot of that day can depend on."""
        return stats_lookback_days(max(hours for _, hours in self.windows))


AGGREGATES: dict[str, AggregateSpec] = {
    spec.table: spec
    for spec in (
        AggregateSpec(CARRIER_STATS.name, ("carrier",), "carrier", (("7d", 7 * 24), ("28d", 28 * 24))),
        AggregateSpec(ORIGIN_STATS.name, ("origin",), "origin", (("1d", 24),)),
        AggregateSpec(ROUTE_STATS.name, ("origin", "dest"), "route", (("28d", 28 * 24),)),
        AggregateSpec(AIRCRAFT_STATS.name, ("tailnum",), "aircraft", (("24h", 24),), True, True),
    )
}

FEATURE_TABLES: tuple[FeatureTable, ...] = (
    FLIGHT_SCHEDULE,
    ORIGIN_WEATHER,
    CARRIER_STATS,
    ORIGIN_STATS,
    ROUTE_STATS,
    AIRCRAFT_STATS,
)


def feature_table(name: str) -> FeatureTable:
    """The flight-delay table called `name` (`features.<table>` or `<table>`); KeyError lists the known ones."""
    for table in FEATURE_TABLES:
        if name in (table.name, table.short_name):
            return table
    raise KeyError(f"Unknown feature table {name!r}; registered tables: {', '.join(t.name for t in FEATURE_TABLES)}")


def column_dtypes(table: FeatureTable) -> dict[str, str]:
    """Spark SQL type of every stored column of `table`, in storage order."""
    by_feature = {f.name: f.dtype for f in table.features}
    return {c: by_feature.get(c) or KEY_DTYPES[c] for c in table.columns}
