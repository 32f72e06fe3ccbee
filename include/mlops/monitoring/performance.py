"""Model performance on late labels: labels that arrived since the predictions, joined to gold.predictions.

An entity's label counts only once it was known (`label_known_ts`, the use case's label rule, the same as
for training) by the monitoring cutoff. The prediction of record per entity and version is the latest one
scored. Metrics per day and per window, by task type (`MONITORED`): ROC AUC, log loss, Brier for binary;
macro F1, log loss, accuracy for multiclass; RMSE, MAE, R2 for regression. The violation rule: at least k of
the last n windows beyond the limit of the primary metric (below a minimum ROC AUC or macro F1, above a
maximum RMSE), the latest included, so one bad window is noise and a recovered model stops alerting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.task_metrics import compute_metrics, metric_spec, primary_metric
from mlops.usecase.contract import ENTITY_DATE

if TYPE_CHECKING:
    import pandas as pd

    from mlops.config import MonitoringSettings
    from mlops.lakehouse import Lakehouse
    from mlops.task_metrics import TaskType
    from mlops.usecase import UseCase

PREDICTIONS = "gold.predictions"
LABEL = "label"  # the use case's label column, renamed in the joined frame
# Per task type: descriptive columns, then the metrics monitoring stores and judges (a table column each).
DESCRIPTIVE: dict[str, tuple[str, ...]] = {
    "binary": ("positive_rate", "mean_probability"),
    "multiclass": ("mean_probability",),
    "regression": ("mean_label", "mean_prediction"),
}
MONITORED: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "log_loss", "brier"),
    "multiclass": ("macro_f1", "log_loss", "accuracy"),
    "regression": ("rmse", "mae", "r2"),
}
# gold.predictions columns the metrics are computed from.
SCORE_COLUMNS = {"binary": "probability", "multiclass": "probabilities", "regression": "prediction"}


@dataclass(frozen=True)
class Performance:
    """Metrics of one model version on the labelled predictions of entity dates [first, last].

    `values` holds the task's descriptive columns and monitored metrics (`DESCRIPTIVE`, `MONITORED`), NaN
    when nothing is labelled (or, e.g., ROC AUC with a single class); `performance.roc_auc` reads one.
    """

    first: date
    last: date
    model_version: str
    predictions: int  # predictions made for those dates
    labelled: int  # ... whose label was known by the cutoff
    values: Mapping[str, float]

    def __getattr__(self, name: str) -> float:
        values = self.__dict__.get("values")
        if values is None or name not in values:
            raise AttributeError(f"Performance has no {name!r}")
        return values[name]

    def metric(self, name: str) -> float:
        """One metric or descriptive value (KeyError when the task type does not report it)."""
        return self.values[name]

    def as_row(self) -> dict[str, object]:
        """Plain dict (a table row): dates, version, counts, then the values in column order."""
        head = {"first": self.first, "last": self.last, "model_version": self.model_version}
        return {**head, "predictions": self.predictions, "labelled": self.labelled, **self.values}


def labelled_predictions(
    lakehouse: Lakehouse, usecase: UseCase, first: date, last: date, model_version: str, cutoff: datetime
) -> tuple[pd.DataFrame, int]:
    """The version's predictions of record for [first, last] with labels known by `cutoff`; and all predictions."""
    import pandas as pd

    keys = list(usecase.entity.keys)
    filters = [(ENTITY_DATE, ">=", first), (ENTITY_DATE, "<=", last), ("model_version", "=", str(model_version))]
    columns = [*keys, ENTITY_DATE, SCORE_COLUMNS[usecase.model.task], "scored_at"]
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


def measure(
    frame: pd.DataFrame, first: date, last: date, model_version: str, predictions: int, usecase: UseCase
) -> Performance:
    """The task's metrics of labelled predictions (NaN when nothing is labelled)."""
    task = usecase.model.task
    if len(frame):
        values = _measure(task, frame, usecase.model.classes)
    else:
        values = dict.fromkeys((*DESCRIPTIVE[task], *MONITORED[task]), float("nan"))
    return Performance(first, last, str(model_version), predictions, len(frame), values)


def _measure(task: TaskType, frame: pd.DataFrame, classes: Any) -> dict[str, float]:
    """Descriptive values then monitored metrics of a non-empty labelled frame."""
    if task == "binary":  # clipped as the predictions were always scored: identical numbers over time
        y = frame[LABEL].to_numpy(dtype="int64")
        p = np.clip(frame["probability"].to_numpy(dtype="float64"), 1e-15, 1 - 1e-15)
        described = {"positive_rate": float(y.mean()), "mean_probability": float(p.mean())}
    elif task == "multiclass":
        y, p = frame[LABEL].to_numpy(), np.vstack(frame["probabilities"].to_numpy()).astype("float64")
        described = {"mean_probability": float(p.max(axis=1).mean())}
    else:
        y, p = frame[LABEL].to_numpy(dtype="float64"), frame["prediction"].to_numpy(dtype="float64")
        described = {"mean_label": float(y.mean()), "mean_prediction": float(p.mean())}
    metrics = compute_metrics(task, y, p, classes)
    return {**described, **{name: metrics[name] for name in MONITORED[task]}}


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


@dataclass(frozen=True)
class PerformanceRule:
    """When performance breaches: the primary metric beyond `limit` in `k` of the last `n` windows.

    `limit` is a minimum for greater-is-better metrics (ROC AUC, macro F1) and a maximum otherwise (RMSE);
    None: performance is measured and stored but never breaches (no limit set for the task type).
    """

    task: TaskType
    metric: str
    limit: float | None
    k: int
    n: int

    def breach(self, values: list[float]) -> str | None:
        """The alert detail when the windows' values (oldest first, the latest last) breach; else None."""
        spec = metric_spec(self.task, self.metric)
        if self.limit is None or not violation(values, self.limit, self.k, self.n, bool(spec.greater_is_better)):
            return None
        recent = ", ".join("n/a" if v != v else f"{v:.3f}" for v in values[-self.n :])
        side = "below" if spec.greater_is_better else "above"
        return f"{spec.label} {side} {self.limit} in {self.k}+ of the last {self.n} windows ({recent})"


def performance_rule(cfg: MonitoringSettings, task: TaskType) -> PerformanceRule:
    """The breach rule of a task type: `monitoring.primary_limit` when set, else `min_roc_auc` for binary."""
    limit = cfg.primary_limit if cfg.primary_limit is not None else cfg.min_roc_auc if task == "binary" else None
    return PerformanceRule(task, primary_metric(task).name, limit, cfg.violation_k, cfg.violation_n)
