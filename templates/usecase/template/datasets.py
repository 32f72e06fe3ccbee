"""Landing contracts: what each daily CSV file must hold (columns, types, keys, ranges, allowed values)."""

from __future__ import annotations

from mlops.usecase import Column, Dataset

PLANS = ("basic", "plus", "pro")
REGIONS = ("north", "south", "east", "west")


def _c(name: str, dtype: str, lo: float | None = None, hi: float | None = None, **kwargs: object) -> Column:
    return Column(name, dtype, min_value=lo, max_value=hi, required=True, **kwargs)  # type: ignore[arg-type]


# Every customer's activity of one UTC day, a row per customer (zero sessions included), delivered at 00:00 UTC
# of the next day. Exactly one row per customer each day, so the row-count band is tight.
ACTIVITY = Dataset(
    name="activity",
    columns=(
        _c("year", "int64", 2000, 2100),
        _c("month", "int64", 1, 12),
        _c("day", "int64", 1, 31),
        _c("customer_id", "int64", 1, 10_000_000),
        _c("sessions", "int64", 0, 500, description="sessions started on the day"),
        _c("minutes", "float64", 0, 1440, description="minutes spent in those sessions"),
        _c("tickets", "int64", 0, 100, description="support tickets opened on the day"),
    ),
    keys=("year", "month", "day", "customer_id"),
    date_parts=("year", "month", "day"),
    row_count_band=(0.5, 2.0),
    description="Daily activity per customer (UTC day), one row per customer.",
)

# Reference data: the customer list, delivered whole every day (a snapshot merged on its keys). Its columns never
# change for a customer here; a real snapshot whose values change is not point-in-time: keep a history instead.
CUSTOMERS = Dataset(
    name="customers",
    columns=(
        _c("customer_id", "int64", 1, 10_000_000),
        _c("plan", "string", allowed=PLANS, max_length=8, description="subscription plan"),
        _c("region", "string", allowed=REGIONS, max_length=8, description="sales region"),
    ),
    keys=("customer_id",),
    per_day=False,
    row_count_band=(0.5, 2.0),
    description="The customer list (plan, region): a daily whole-table snapshot.",
)

# In the order files are waited for and ingested.
DATASETS = (CUSTOMERS, ACTIVITY)
