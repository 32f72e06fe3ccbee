"""Model performance on late labels: outcomes that arrived since the predictions, joined to gold.predictions.

A flight's outcome counts only once it was known (`known_s`, the same rule as the training labels: actual
departure + air time + 30 min; cancelled at the scheduled departure) by the monitoring cutoff. The
prediction of record per flight and version is the latest one scored. Metrics per day and per window:
ROC AUC, log loss, Brier score. The violation rule: at least k of the last n windows beyond the threshold,
the latest included, so one bad window is noise and a recovered model stops alerting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np

from mlops.features.registry import FLIGHT_KEY

if TYPE_CHECKING:
    import pandas as pd

    from mlops.lakehouse import Lakehouse

PREDICTIONS = "gold.predictions"
FLIGHTS = "bronze.flights"


@dataclass(frozen=True)
class Performance:
    """Metrics of one model version on the labelled predictions of flight dates [first, last]."""

    first: date
    last: date
    model_version: str
    predictions: int  # predictions made for those dates
    labelled: int  # ... whose outcome was known by the cutoff
    delay_rate: float
    mean_probability: float
    roc_auc: float  # NaN with a single class
    log_loss: float
    brier: float

    def as_row(self) -> dict[str, object]:
        """Plain dict (a table row)."""
        return asdict(self)


def labelled_predictions(
    lakehouse: Lakehouse, first: date, last: date, model_version: str, cutoff: datetime
) -> tuple[pd.DataFrame, int]:
    """The version's predictions of record for [first, last] with outcomes known by `cutoff`; and all predictions."""
    import pandas as pd

    from mlops.features.pandas_oracle import flight_outcomes

    filters = [("flight_date", ">=", first), ("flight_date", "<=", last), ("model_version", "=", str(model_version))]
    columns = [*FLIGHT_KEY, "flight_date", "probability", "scored_at"]
    predictions = lakehouse.read_pandas(PREDICTIONS, columns=columns, filters=filters)
    total = len(predictions)
    if predictions.empty:
        return predictions.assign(delayed=pd.Series(dtype="int64")), 0
    predictions = predictions.sort_values("scored_at").drop_duplicates(list(FLIGHT_KEY), keep="last")
    flights = lakehouse.read_pandas(FLIGHTS, filters=[("date", ">=", first), ("date", "<=", last)])
    outcomes = flight_outcomes(flights).drop_duplicates(list(FLIGHT_KEY))
    outcomes = outcomes[outcomes["known_s"] <= cutoff.timestamp()]
    joined = predictions.merge(outcomes[[*FLIGHT_KEY, "delayed"]], on=list(FLIGHT_KEY), how="inner")
    return joined, total


def measure(frame: pd.DataFrame, first: date, last: date, model_version: str, predictions: int) -> Performance:
    """ROC AUC, log loss and Brier of labelled predictions (NaN metrics when nothing is labelled)."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = frame["delayed"].to_numpy(dtype="int64") if len(frame) else np.array([], dtype="int64")
    p = np.clip(frame["probability"].to_numpy(dtype="float64"), 1e-15, 1 - 1e-15) if len(frame) else np.array([])
    nan = float("nan")
    both = len(np.unique(y)) == 2
    return Performance(
        first=first,
        last=last,
        model_version=str(model_version),
        predictions=predictions,
        labelled=len(frame),
        delay_rate=float(y.mean()) if len(y) else nan,
        mean_probability=float(p.mean()) if len(p) else nan,
        roc_auc=float(roc_auc_score(y, p)) if both else nan,
        log_loss=float(log_loss(y, p, labels=[0, 1])) if len(y) else nan,
        brier=float(brier_score_loss(y, p)) if len(y) else nan,
    )


def violation(values: list[float], threshold: float, k: int, n: int, higher_is_better: bool = True) -> bool:
    """True when at least `k` of the last `n` window values are beyond `threshold` and the latest is too.

    NaN (no labels) is never a breach. `values` are in time order, oldest first.
    """
    if k < 1 or n < k:
        raise ValueError(f"Violation rule needs 1 <= k <= n, got k={k}, n={n}")
    recent = [v for v in values[-n:]]

    def beyond(v: float) -> bool:
        return v == v and (v < threshold if higher_is_better else v > threshold)

    return bool(recent) and beyond(recent[-1]) and sum(beyond(v) for v in recent) >= k
