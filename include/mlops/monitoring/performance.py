"""Model performance on late labels: labels that arrived since the predictions, joined to gold.predictions.

An entity's label counts only once it was known (`label_known_ts`, the use case's label rule, the same as
for training) by the monitoring cutoff. The prediction of record per entity and version is the latest one
scored. Metrics per day and per window:
ROC AUC, log loss, Brier score. The violation rule: at least k of the last n windows beyond the threshold,
the latest included, so one bad window is noise and a recovered model stops alerting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np

from mlops.usecase.contract import ENTITY_DATE

if TYPE_CHECKING:
    import pandas as pd

    from mlops.lakehouse import Lakehouse
    from mlops.usecase import UseCase

PREDICTIONS = "gold.predictions"
LABEL = "label"  # the use case's label column, renamed in the joined frame


@dataclass(frozen=True)
class Performance:
    """Metrics of one model version on the labelled predictions of entity dates [first, last]."""

    first: date
    last: date
    model_version: str
    predictions: int  # predictions made for those dates
    labelled: int  # ... whose label was known by the cutoff
    positive_rate: float
    mean_probability: float
    roc_auc: float  # NaN with a single class
    log_loss: float
    brier: float

    def as_row(self) -> dict[str, object]:
        """Plain dict (a table row)."""
        return asdict(self)


def labelled_predictions(
    lakehouse: Lakehouse, usecase: UseCase, first: date, last: date, model_version: str, cutoff: datetime
) -> tuple[pd.DataFrame, int]:
    """The version's predictions of record for [first, last] with labels known by `cutoff`; and all predictions."""
    import pandas as pd

    keys = list(usecase.entity.keys)
    filters = [(ENTITY_DATE, ">=", first), (ENTITY_DATE, "<=", last), ("model_version", "=", str(model_version))]
    columns = [*keys, ENTITY_DATE, "probability", "scored_at"]
    predictions = lakehouse.read_pandas(PREDICTIONS, columns=columns, filters=filters)
    total = len(predictions)
    if predictions.empty:
        return predictions.assign(**{LABEL: pd.Series(dtype="int64")}), 0
    predictions = predictions.sort_values("scored_at").drop_duplicates(keys, keep="last")
    source = lakehouse.read_pandas(usecase.labels.source, filters=[("date", ">=", first), ("date", "<=", last)])
    labels = usecase.labels.pandas(source).drop_duplicates(keys)
    labels = labels[labels["label_known_ts"] <= pd.Timestamp(cutoff)]
    labels = labels[[*keys, usecase.labels.column]].rename(columns={usecase.labels.column: LABEL})
    return predictions.merge(labels, on=keys, how="inner"), total


def measure(frame: pd.DataFrame, first: date, last: date, model_version: str, predictions: int) -> Performance:
    """ROC AUC, log loss and Brier of labelled predictions (NaN metrics when nothing is labelled)."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = frame[LABEL].to_numpy(dtype="int64") if len(frame) else np.array([], dtype="int64")
    p = np.clip(frame["probability"].to_numpy(dtype="float64"), 1e-15, 1 - 1e-15) if len(frame) else np.array([])
    nan = float("nan")
    both = len(np.unique(y)) == 2
    return Performance(
        first=first,
        last=last,
        model_version=str(model_version),
        predictions=predictions,
        labelled=len(frame),
        positive_rate=float(y.mean()) if len(y) else nan,
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
