"""The flight-delay label: delayed (arrival > 15 min late, cancelled or diverted), known once the flight landed.

One rule in two engines: Spark for training sets (`definitions.flight_labels`) and pandas for monitoring
(`oracle.flight_outcomes`). Outcomes are known within hours of departure, so labels of a flight date are
complete one day later (label lag 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.usecase import LabelSpec

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

LABEL = "delayed"


def labels_spark(flights: DataFrame) -> DataFrame:
    """Flight key, `delayed` (0/1) and `label_known_ts` of every flight in `flights` (bronze rows)."""
    from usecases.flight_delay.definitions import flight_labels

    return flight_labels(flights)


def labels_pandas(flights: pd.DataFrame) -> pd.DataFrame:
    """The same rule over pandas rows: flight key, `delayed` and `label_known_ts`."""
    import pandas as pd

    from usecases.flight_delay.oracle import flight_outcomes

    outcomes = flight_outcomes(flights)
    return outcomes.assign(label_known_ts=pd.to_datetime(outcomes["known_s"], unit="s", utc=True))


LABELS = LabelSpec(
    column=LABEL,
    source="bronze.flights",
    lag_days=1,
    spark=labels_spark,
    pandas=labels_pandas,
    description="delayed = arrival delay > 15 min, or no arrival (cancelled or diverted); known at landing + 30 min.",
)
