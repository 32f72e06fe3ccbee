"""The bike-demand label: riders in each local hour, known when the day's counts are published (its end).

One rule in two engines: Spark for training sets (`compute.rider_labels`) and pandas for monitoring. The
forecast of day D is made at 00:00 local on D and its labels are published at 00:00 local on D + 1, a day
later; in UTC that is 04:00 or 05:00 of D + 1, so the labels of D are complete by the end of D + 1 (lag 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.usecase import LabelSpec
from usecases.bike_demand.datasets import TIME_ZONE
from usecases.bike_demand.features import FORECAST_KEY

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

LABEL = "riders"


def labels_spark(rides: DataFrame) -> DataFrame:
    """Forecast key, `riders` and `label_known_ts` of every hour in `rides` (bronze rows)."""
    from usecases.bike_demand.compute import rider_labels

    return rider_labels(rides)


def labels_pandas(rides: pd.DataFrame) -> pd.DataFrame:
    """The same rule over pandas rows."""
    import pandas as pd

    day = pd.to_datetime(rides[["year", "month", "day"]])
    known = (day + pd.Timedelta(days=1)).dt.tz_localize(TIME_ZONE).dt.tz_convert("UTC")
    out = rides[list(FORECAST_KEY)].astype("int64")
    return out.assign(riders=rides["bikers"].astype("float64").to_numpy(), label_known_ts=known.to_numpy())


LABELS = LabelSpec(
    column=LABEL,
    source="bronze.rides",
    lag_days=1,
    spark=labels_spark,
    pandas=labels_pandas,
    description="riders = all rentals (casual + registered) in the local hour; known at 00:00 local after the day.",
)
