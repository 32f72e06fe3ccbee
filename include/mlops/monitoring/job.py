"""One day of monitoring: drift against the champion's reference, performance on late labels, drift signals.

Writes (each once per (day, model version), so a rerun adds nothing):
- monitoring.feature_drift: one row per feature and the prediction, with every statistic and the
  dataset-level decision;
- monitoring.model_performance: the labelled day and the trailing window (granularity day / window);
- monitoring.drift_signals: one row per detected breach (data drift, prediction drift, performance),
  keyed by signal id and merged, so `drift_retraining` can mark it consumed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from mlops.lakehouse import WriterId
from mlops.monitoring.drift import DatasetDrift, dataset_drift
from mlops.monitoring.performance import MONITORED, Performance, labelled_predictions, measure, performance_rule
from mlops.monitoring.profile import PREDICTION, FeatureProfile, ReferenceProfile
from mlops.task_metrics import primary_metric
from mlops.usecase.contract import ENTITY_DATE

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.monitoring.performance import PerformanceRule
    from mlops.task_metrics import TaskType

log = logging.getLogger(__name__)

FEATURE_DRIFT = "monitoring.feature_drift"
MODEL_PERFORMANCE = "monitoring.model_performance"
DRIFT_SIGNALS = "monitoring.drift_signals"
SIGNAL_KINDS = ("data_drift", "prediction_drift", "performance")


@dataclass(frozen=True)
class Signal:
    """One detected breach."""

    kind: str
    detail: str
    value: float
    threshold: float
    window_first: date
    window_last: date

    def signal_id(self, model_name: str, version: str) -> str:
        """Deterministic id: one signal per kind, model version and window."""
        return f"{self.kind}/{model_name}/v{version}/{self.window_first}..{self.window_last}"


@dataclass(frozen=True)
class MonitoringResult:
    """What one day's monitoring found."""

    day: date
    model_name: str
    model_version: str
    drift: DatasetDrift | None
    current_rows: int
    day_performance: Performance | None
    window_performance: Performance | None
    task: TaskType  # its primary metric is judged per window (`roc_auc`, `macro_f1`, `rmse`)
    signals: tuple[Signal, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    reference: ReferenceProfile | None = field(default=None, repr=False)
    currents: dict[str, FeatureProfile] = field(default_factory=dict, repr=False)

    @property
    def primary(self) -> str:
        """The task's primary metric."""
        return primary_metric(self.task).name

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and the alert text (binary: `window_roc_auc`)."""
        return {
            "date": self.day.isoformat(),
            "model_version": self.model_version,
            "rows": self.current_rows,
            "drifted_features": self.drift.drifted_features if self.drift else [],
            "drifted_share": round(self.drift.drifted_share, 4) if self.drift else None,
            f"window_{self.primary}": _round(
                self.window_performance.metric(self.primary) if self.window_performance else None
            ),
            "signals": [s.kind for s in self.signals],
        }


def _round(value: float | None) -> float | None:
    return None if value is None or value != value else round(value, 4)


def run_monitoring(
    lakehouse: Lakehouse, settings: Settings, day: date, model_version: str, run_id: str
) -> MonitoringResult:
    """Drift of the day's scored data, performance on the labels known by the end of `day`, and signals.

    Raises:
        NoReferenceProfileError: the model version has no reference profile.
        GateFailedError: the rows fail their GX gate (nothing written).
    """
    from mlops.inference.publish import prediction_output
    from mlops.monitoring.current import current_profiles
    from mlops.monitoring.reference import load_reference, thresholds
    from mlops.usecase import usecase_of

    cfg, name, usecase = settings.monitoring, settings.mlflow.model_name, usecase_of(settings)
    reference = load_reference(lakehouse, name, model_version)
    drift_first = day - timedelta(days=cfg.drift_window_days - 1)
    score_column = prediction_output(usecase).score_column
    currents, rows = current_profiles(lakehouse, reference, drift_first, day, model_version, score_column)
    notes = []
    drift = None
    if rows:
        default, overrides = thresholds(cfg)
        drift = dataset_drift(
            reference.features, currents, default, overrides, cfg.drifted_share_threshold, cfg.ignore_features
        )
    else:
        notes.append(f"no predictions by v{model_version} for {drift_first}..{day}: drift not computed")
    cutoff = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    labelled_day = day - timedelta(days=usecase.labels.lag_days)  # labels arrive this many days late
    window_first = labelled_day - timedelta(days=cfg.performance_window_days - 1)
    frame, total = labelled_predictions(lakehouse, usecase, window_first, labelled_day, model_version, cutoff)
    day_rows = frame[frame[ENTITY_DATE] == labelled_day] if len(frame) else frame
    day_total = int(total and (frame[ENTITY_DATE] == labelled_day).sum())
    day_perf = measure(day_rows, labelled_day, labelled_day, model_version, day_total, usecase)
    window_perf = measure(frame, window_first, labelled_day, model_version, total, usecase)
    rule = performance_rule(cfg, usecase.model.task)
    if rule.limit is None:
        notes.append(f"no {rule.metric} limit for a {rule.task} model (monitoring.primary_limit): never breaches")
    signals = _signals(lakehouse, settings, drift, drift_first, day, window_perf, model_version, rule)
    result = MonitoringResult(
        day, name, str(model_version), drift, rows, day_perf, window_perf, rule.task, tuple(signals),
        tuple(notes), reference, currents,
    )  # fmt: skip
    _validate(settings, result)
    _write(lakehouse, result, run_id)
    log.info("Monitoring %s: %s", day, result.summary())
    return result


def monitor_day(
    lakehouse: Lakehouse, settings: Settings, client: MlflowClient, day: date, model_version: Any, run_id: str
) -> dict[str, Any]:
    """Monitor one day (`run_monitoring`), then write the HTML drift report beside the tables and log it to
    MLflow under the version's training run. Returns the summary with the report path and the alert text.

    Raises:
        NoReferenceProfileError, GateFailedError (Refusal): nothing is written.
    """
    from mlops.monitoring.report import publish_report

    result = run_monitoring(lakehouse, settings, day, str(model_version), run_id)
    for note in result.notes:
        log.warning(note)
    report = publish_report(client, settings, result)
    return {**result.summary(), "report": str(report), "alert": describe(result)}


def _validate(settings: Settings, result: MonitoringResult) -> None:
    """GX gates on the rows about to be appended (fail mode: a broken statistic must not be stored).

    Raises:
        GateFailedError: naming the failed expectations; nothing was written.
    """
    import pandas as pd

    from mlops.quality.gate import run_gate
    from mlops.quality.pipeline_gates import GateFailedError, quality_store
    from mlops.quality.suites import feature_drift_suite, model_performance_suite

    checks = []
    if result.drift is not None:
        rows = [{**f.as_row(), "dataset_drifted_share": result.drift.drifted_share} for f in result.drift.features]
        checks.append((FEATURE_DRIFT, pd.DataFrame(rows), feature_drift_suite(result.day)))
    performance = [p.as_row() | {"granularity": g} for g, p in (("day", result.day_performance),
                                                                 ("window", result.window_performance))]  # fmt: skip
    metrics = MONITORED[result.task]
    checks.append((MODEL_PERFORMANCE, pd.DataFrame(performance), model_performance_suite(result.day, metrics)))
    for table, frame, suite in checks:
        gate = run_gate(frame, suite, mode="fail", store_dir=quality_store(settings), asset_name=table)
        if not gate.success:
            raise GateFailedError(gate.message(), gate)


def _signals(
    lakehouse: Lakehouse,
    settings: Settings,
    drift: DatasetDrift | None,
    first: date,
    last: date,
    window: Performance,
    version: str,
    rule: PerformanceRule,
) -> list[Signal]:
    cfg = settings.monitoring
    found = []
    if drift is not None and drift.drifted:
        features = [f for f in drift.drifted_features if f != PREDICTION]
        detail = f"{len(features)} drifted features: {', '.join(features)}"
        found.append(Signal("data_drift", detail, drift.drifted_share, cfg.drifted_share_threshold, first, last))
    prediction = next((f for f in drift.features if f.feature == PREDICTION), None) if drift else None
    if prediction is not None and prediction.drifted:
        detail = f"prediction PSI {prediction.psi:.3f}, Wasserstein {prediction.distance:.3f}"
        found.append(Signal("prediction_drift", detail, prediction.psi, prediction.psi_threshold, first, last))
    history = _window_history(lakehouse, settings.mlflow.model_name, version, window.last, rule.metric)
    value = window.metric(rule.metric)
    detail = rule.breach([*history, value])
    if detail is not None:
        found.append(Signal("performance", detail, value, float(rule.limit), window.first, window.last))
    return found


def _window_history(lakehouse: Lakehouse, model_name: str, version: str, before: date, metric: str) -> list[float]:
    """The primary `metric` of the version's earlier windows (one per window end), oldest first."""
    if not lakehouse.exists(MODEL_PERFORMANCE):
        return []
    rows = lakehouse.read_pandas(
        MODEL_PERFORMANCE,
        filters=[("model_name", "=", model_name), ("model_version", "=", str(version)), ("granularity", "=", "window")],
    )
    rows = rows[rows["last"] < before].sort_values("computed_at").drop_duplicates("last", keep="last")
    return rows.sort_values("last")[metric].astype(float).tolist()


def _write(lakehouse: Lakehouse, result: MonitoringResult, run_id: str) -> None:
    import pyarrow as pa

    now, key = datetime.now(UTC), f"{result.day}/v{result.model_version}"
    common = {"model_name": result.model_name, "model_version": result.model_version, "airflow_run_id": run_id}
    if result.drift is not None:
        drift = result.drift
        rows = [
            {
                "monitoring_date": result.day,
                **f.as_row(),
                "dataset_drifted_share": drift.drifted_share,
                "dataset_drifted": drift.drifted,
                **common,
                "computed_at": now,
            }
            for f in drift.features
        ]
        lakehouse.append(FEATURE_DRIFT, pa.Table.from_pylist(rows), writer=WriterId(f"feature_drift/{key}"))
    perf_rows = [
        {"monitoring_date": result.day, "granularity": g, **p.as_row(), **common, "computed_at": now}
        for g, p in (("day", result.day_performance), ("window", result.window_performance))
        if p is not None
    ]
    lakehouse.append(MODEL_PERFORMANCE, pa.Table.from_pylist(perf_rows), writer=WriterId(f"model_performance/{key}"))
    if result.signals:
        signals = [
            {
                "signal_id": s.signal_id(result.model_name, result.model_version),
                "kind": s.kind,
                "detail": s.detail,
                "value": float(s.value),
                "threshold": float(s.threshold),
                "window_first": s.window_first,
                "window_last": s.window_last,
                "monitoring_date": result.day,
                **common,
                "detected_at": now,
                "status": "open",
                "consumed_by_run": None,
                "consumed_at": None,
                "decision": None,
            }
            for s in result.signals
        ]
        schema = _signal_schema()
        table = pa.Table.from_pylist(signals, schema=schema)
        if lakehouse.exists(DRIFT_SIGNALS):
            existing = set(lakehouse.read(DRIFT_SIGNALS, columns=["signal_id"]).column(0).to_pylist())
            table = table.filter(pa.array([sid not in existing for sid in table["signal_id"].to_pylist()]))
        if table.num_rows:
            lakehouse.append(DRIFT_SIGNALS, table, writer=WriterId(f"drift_signals/{key}"))


def _signal_schema():
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            ("signal_id", text), ("kind", text), ("detail", text), ("value", pa.float64()),
            ("threshold", pa.float64()), ("window_first", pa.date32()), ("window_last", pa.date32()),
            ("monitoring_date", pa.date32()), ("model_name", text), ("model_version", text),
            ("airflow_run_id", text), ("detected_at", pa.timestamp("us", tz="UTC")), ("status", text),
            ("consumed_by_run", text), ("consumed_at", pa.timestamp("us", tz="UTC")), ("decision", text),
        ]
    )  # fmt: skip


def describe(result: MonitoringResult) -> str:
    """Alert text: what breached, how much, for which window and model."""
    if not result.signals:
        return f"{result.model_name} v{result.model_version} on {result.day}: no breach"
    lines = [f"{result.model_name} v{result.model_version}, monitoring {result.day}: {len(result.signals)} breach(es)"]
    for s in result.signals:
        lines.append(f"- {s.kind}: {s.detail} (value {s.value:.3f}, threshold {s.threshold}) "
                     f"for {s.window_first}..{s.window_last}")  # fmt: skip
    return "\n".join(lines)
