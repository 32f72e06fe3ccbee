"""The label: 1 when a customer has no session on the target day; final a day after the day's delivery.

One rule in two engines: Spark for training sets (`compute.inactive_labels`) and pandas for monitoring. The
activity of day D is delivered at 00:00 UTC of D + 1, but sessions logged offline may still arrive for a day,
so the label of D is final only at 00:00 UTC of D + 2 (`label_known_ts`): labels lag the entity date by one
day (`lag_days=1`). Training uses a label only once known at its cutoff, monitoring a day late.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.usecase import LabelSpec

from .features import ENTITY_KEY

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

LABEL = "inactive"
LABEL_DELAY_DAYS = 1  # after the day's delivery (00:00 UTC of D + 1), until the label is final


def labels_spark(activity: DataFrame) -> DataFrame:
    """Entity keys, `inactive` and `label_known_ts` of every row of `activity` (bronze rows)."""
    from .compute import inactive_labels

    return inactive_labels(activity)


def labels_pandas(activity: pd.DataFrame) -> pd.DataFrame:
    """The same rule over pandas rows."""
    import pandas as pd

    day = pd.to_datetime(activity[["year", "month", "day"]])
    known = (day + pd.Timedelta(days=1 + LABEL_DELAY_DAYS)).dt.tz_localize("UTC")
    out = activity[list(ENTITY_KEY)].astype("int64")
    return out.assign(**{LABEL: (activity["sessions"] == 0).astype("int64").to_numpy(), "label_known_ts": known})


LABELS = LabelSpec(
    column=LABEL,
    source="bronze.activity",
    lag_days=1,
    spark=labels_spark,
    pandas=labels_pandas,
    description="inactive = 1 when the customer has no session on the day; final at 00:00 UTC two days later.",
)
