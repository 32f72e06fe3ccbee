"""The feature catalog: the entity table (customer-days) and two trailing-aggregate tables of activity.

Publication rule (one rule for features and labels' inputs): the activity of UTC day X is delivered at 00:00 UTC
of X + 1. A snapshot built from day X is valid from then (`feature_ts`), and its `feature_date` is X. The
prediction for day D is made at 00:00 UTC on D (`prediction_ts`), when day D - 1 is published, so every trailing
window ends with D - 1 and no value of D or later is ever used.
"""

from __future__ import annotations

from mlops.features.catalog import FeatureDefinition, FeatureTable

from . import OWNER

ENTITY_KEY = ("customer_id", "year", "month", "day")
SHORT_WINDOW_DAYS = 7
LONG_WINDOW_DAYS = 28

KEY_DTYPES = {
    "customer_id": "bigint",
    "year": "bigint",
    "month": "bigint",
    "day": "bigint",
    "prediction_ts": "timestamp",
    "feature_ts": "timestamp",
    "feature_date": "date",
}


def _f(name: str, description: str, dtype: str = "double", **kwargs: float | bool | None) -> FeatureDefinition:
    return FeatureDefinition(name, description, dtype, owner=OWNER, **kwargs)  # type: ignore[arg-type]


CUSTOMER_DAYS = FeatureTable(
    name="features.customer_days",
    entity=ENTITY_KEY,
    timestamp_column="prediction_ts",
    description="One row per customer and target day, valid from 00:00 UTC that day (the prediction time).",
    features=(
        _f("plan_level", "Plan: 0 basic, 1 plus, 2 pro (the customer list)", "int", min_value=0, max_value=2),
        _f("day_of_week", "Day of week of the target day, Monday=0 .. Sunday=6", "int", min_value=0, max_value=6),
    ),
    sources=("bronze.customers",),
)

ACTIVITY_7D = FeatureTable(
    name="features.activity_7d",
    entity=("customer_id",),
    timestamp_column="feature_ts",
    description="Per customer, at each day's publication: activity over the last 7 published days.",
    features=(
        _f("inactive_last_1d", "1 when the latest published day had no session", "int", min_value=0, max_value=1),
        _f("inactive_share_7d", "Share of the last 7 days without a session", min_value=0.0, max_value=1.0),
        _f("sessions_mean_7d", "Mean sessions a day over the last 7 days", min_value=0.0, max_value=500.0),
        _f("minutes_mean_7d", "Mean minutes a day over the last 7 days", min_value=0.0, max_value=1440.0),
        _f("tickets_7d", "Support tickets opened over the last 7 days", "bigint", min_value=0, max_value=700),
    ),
    sources=("bronze.activity",),
    lookback_days=SHORT_WINDOW_DAYS - 1,
)

ACTIVITY_28D = FeatureTable(
    name="features.activity_28d",
    entity=("customer_id",),
    timestamp_column="feature_ts",
    description="Per customer, at each day's publication: activity over the last 28 published days.",
    features=(
        _f("inactive_share_28d", "Share of the last 28 days without a session", min_value=0.0, max_value=1.0),
        _f("tickets_28d", "Support tickets opened over the last 28 days", "bigint", min_value=0, max_value=2800),
        _f(
            "days_since_active",
            "Days from the latest published day back to the last day with a session (0: that day; 28: none)",
            "int",
            min_value=0,
            max_value=LONG_WINDOW_DAYS,
        ),
    ),
    sources=("bronze.activity",),
    lookback_days=LONG_WINDOW_DAYS - 1,
)

# In point-in-time-join order: the entity table first.
FEATURE_TABLES: tuple[FeatureTable, ...] = (CUSTOMER_DAYS, ACTIVITY_7D, ACTIVITY_28D)
