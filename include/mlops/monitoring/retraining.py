"""Drift-triggered retraining: open signals, the guardrails that decide, and marking signals consumed.

The seeds warn that fully automatic retraining is hard to get right, so a signal only leads to training
when every guardrail allows it (all counted on the data clock, i.e. entity dates, so a replay behaves
like live operation):
- no model_training run is active;
- a cooldown has passed since the data the latest model was trained up to;
- enough new labelled entities exist since then;
- fewer than `max_retrains` drift-triggered trainings ended in the last `period_days`.
A declined signal is recorded with the reasons (status `declined`) and never re-triggers; persisting
drift raises new signals on later days, which are judged again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops.errors import NothingToDo
from mlops.monitoring.job import DRIFT_SIGNALS

if TYPE_CHECKING:
    import pandas as pd

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse

log = logging.getLogger(__name__)

TRAINING_RUNS = "monitoring.training_runs"
DRIFT_REASON = "drift"


@dataclass(frozen=True)
class Decision:
    """Whether the signals lead to a retrain, why, and the training request if so."""

    allowed: bool
    signal_ids: tuple[str, ...]
    reasons: tuple[str, ...]  # why not (empty when allowed)
    window_end: date
    window_days: int
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The training run's reason, e.g. `drift: data_drift, performance (v3, 2013-05-01..2013-05-07)`."""
        return f"{DRIFT_REASON}: {self.checks.get('summary', '')}".strip()

    def conf(self) -> dict[str, Any]:
        """model_training's run conf."""
        return {"window_end": self.window_end.isoformat(), "window_days": self.window_days, "reason": self.reason}

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom."""
        conf = self.conf()
        return {
            **{k: v for k, v in self.checks.items() if isinstance(v, (str, int, float, bool, type(None)))},
            "allowed": self.allowed,
            "signal_ids": list(self.signal_ids),
            "reasons": list(self.reasons),
            "conf": conf,
            "reason": conf.get("reason"),
        }


def open_signals(lakehouse: Lakehouse, model_name: str, kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Signals of `model_name` not yet consumed or declined, oldest first."""
    import pandas as pd

    if not lakehouse.exists(DRIFT_SIGNALS):
        return pd.DataFrame()
    rows = lakehouse.read_pandas(DRIFT_SIGNALS, filters=[("model_name", "=", model_name), ("status", "=", "open")])
    if kinds:
        rows = rows[rows["kind"].isin(kinds)]
    return rows.sort_values(["detected_at", "signal_id"]).reset_index(drop=True)


def decide(lakehouse: Lakehouse, settings: Settings, signals: pd.DataFrame, active_training_runs: int) -> Decision:
    """Apply the guardrails to the open signals.

    The retrain's window ends at the latest day whose labels are complete (`labels.lag_days` before the
    newest signal's data), and only those days count as new labelled rows.
    """
    from mlops.usecase import usecase_of

    cfg, name, usecase = settings.retraining, settings.mlflow.model_name, usecase_of(settings)
    data_now = max(signals["window_last"]) if len(signals) else date.min
    labelled_to = data_now - timedelta(days=usecase.labels.lag_days) if len(signals) else date.min
    ids = tuple(signals["signal_id"]) if len(signals) else ()
    kinds = sorted(set(signals["kind"])) if len(signals) else []
    versions = sorted(set(signals["model_version"])) if len(signals) else []
    summary = f"{', '.join(kinds)} (v{', v'.join(versions)}, data to {data_now})"
    reasons, checks = [], {"summary": summary, "data_now": str(data_now)}
    if not cfg.enabled:
        reasons.append("retraining.enabled is false")
    if active_training_runs:
        reasons.append(f"{active_training_runs} model_training run(s) active: not starting another")
    runs = _training_runs(lakehouse, name)
    if len(runs):
        last_end = max(runs["window_end"])
        checks["last_trained_to"] = str(last_end)
        ready = last_end + timedelta(days=cfg.cooldown_days)
        if labelled_to < ready:
            reasons.append(
                f"cooldown: the latest model was trained on data up to {last_end}; retraining.cooldown_days "
                f"{cfg.cooldown_days} means not before labelled data of {ready} (signals reach {data_now}, "
                f"labels complete to {labelled_to})"
            )
        new_rows = _labelled_rows(lakehouse, usecase.labels.source, last_end + timedelta(days=1), labelled_to)
        checks["new_labelled_rows"] = new_rows
        if new_rows < cfg.min_new_labelled_rows:
            reasons.append(
                f"only {new_rows} labelled {usecase.entity.noun}s since {last_end} (labels complete to "
                f"{labelled_to}; < retraining.min_new_labelled_rows {cfg.min_new_labelled_rows})"
            )
        since = data_now - timedelta(days=cfg.period_days)
        recent = runs[runs["reason"].astype(str).str.startswith(DRIFT_REASON) & (runs["window_end"] > since)]
        checks["recent_drift_retrains"] = len(recent)
        if len(recent) >= cfg.max_retrains:
            reasons.append(
                f"{len(recent)} drift-triggered retrains on data after {since} (retraining.max_retrains "
                f"{cfg.max_retrains} per {cfg.period_days} days)"
            )
    if not len(signals):
        reasons.append("no open signal")
    return Decision(not reasons, ids, tuple(reasons), labelled_to, settings.training.train_window_days, checks)


def _training_runs(lakehouse: Lakehouse, model_name: str) -> pd.DataFrame:
    import pandas as pd

    if not lakehouse.exists(TRAINING_RUNS):
        return pd.DataFrame(columns=["window_end", "reason"])
    return lakehouse.read_pandas(
        TRAINING_RUNS, columns=["model_name", "window_end", "reason"], filters=[("model_name", "=", model_name)]
    )


def _labelled_rows(lakehouse: Lakehouse, source: str, first: date, last: date) -> int:
    """Rows of the label source dated [first, last] in bronze (labelled once the label lag has passed)."""
    if last < first or not lakehouse.exists(source):
        return 0
    return lakehouse.read(source, columns=["date"], filters=[("date", ">=", first), ("date", "<=", last)]).num_rows


class RetrainingDeclined(NothingToDo):
    """The guardrails declined the signals (recorded on them with the reasons): no training starts."""


def review_signals(
    lakehouse: Lakehouse, settings: Settings, signal_ids: Any, active_training_runs: int, run_id: str
) -> dict[str, Any]:
    """Apply the guardrails to the open signals among `signal_ids` (the sensor's find).

    Allowed: returns the decision's summary with model_training's conf (reason, window). Declined: the
    signals are marked `declined` with the reasons in monitoring.drift_signals and RetrainingDeclined says why.
    """
    wanted = {str(s) for s in (signal_ids or ())}
    signals = open_signals(lakehouse, settings.mlflow.model_name, tuple(settings.retraining.signal_kinds))
    signals = signals[signals["signal_id"].isin(wanted)] if len(signals) else signals
    decision = decide(lakehouse, settings, signals, active_training_runs)
    log.info("Guardrail checks: %s", decision.checks)
    if not decision.allowed:
        text = "; ".join(decision.reasons)
        close_signals(lakehouse, decision.signal_ids, "declined", text, run_id)
        raise RetrainingDeclined(f"Not retraining: {text}")
    log.info("Retraining allowed: %s", decision.conf())
    return decision.summary()


def close_signals(
    lakehouse: Lakehouse, signal_ids: tuple[str, ...], status: str, decision: str, run_id: str | None
) -> int:
    """Mark signals `consumed` (by training run `run_id`) or `declined` (with the reasons); returns rows changed."""
    import pyarrow as pa

    if status not in ("consumed", "declined"):
        raise ValueError(f"status must be consumed or declined, got {status!r}")
    if not signal_ids:
        return 0
    import pyarrow.compute as pc

    rows = lakehouse.read(DRIFT_SIGNALS)  # small table; an `in` filter on strings trips delta-rs' pruning
    rows = rows.filter(pc.is_in(rows["signal_id"], value_set=pa.array(list(signal_ids), pa.string())))
    if not rows.num_rows:
        return 0
    n, now = rows.num_rows, datetime.now(UTC)
    schema = rows.schema
    rows = rows.set_column(schema.get_field_index("status"), "status", pa.array([status] * n))
    rows = rows.set_column(schema.get_field_index("decision"), "decision", pa.array([decision[:4000]] * n))
    rows = rows.set_column(
        schema.get_field_index("consumed_by_run"), "consumed_by_run", pa.array([run_id] * n, pa.string())
    )
    at = schema.get_field_index("consumed_at")
    rows = rows.set_column(at, "consumed_at", pa.array([now] * n, schema.field(at).type))
    return lakehouse.merge(DRIFT_SIGNALS, rows, keys=["signal_id"]).rows
