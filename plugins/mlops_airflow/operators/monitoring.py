"""Monitoring and retraining operators: one day's monitoring with its report, and the retraining guardrails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import emit_asset_metadata, run_days
from mlops_airflow.hooks import UseCaseOperator, task_outcome


class MonitorModelOperator(UseCaseOperator):
    """Drift, late-label performance and signals for one day (`mlops.monitoring.job.run_monitoring`), then the report.

    The rows are validated by GX gates before they are appended (a refusal fails without retries and
    writes nothing). The HTML drift report goes to `<reports root>/_reports/drift/` and is logged to MLflow
    under the monitored version's training run (`monitoring/<date>/`); both locations are in the log.
    Returns the summary, with the alert text, for the alert task.
    """

    template_fields: Sequence[str] = ("day", "model_version")
    ui_color = "#efedf5"

    def __init__(self, *, day: str = "{{ ds }}", model_version: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.day, self.model_version = day, model_version

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.monitoring.job import monitor_day

        hook, day = self.hook, run_days(self.day)[0]
        summary = monitor_day(hook.lakehouse, hook.settings, hook.mlflow, day, self.model_version, context["run_id"])
        emit_asset_metadata(context, self.outlets, {k: v for k, v in summary.items() if k != "alert"})
        self.log.info("Monitoring summary: %s", summary)
        return summary


class RetrainingGuardrailsOperator(UseCaseOperator):
    """Decide whether the open drift signals may start `model_training` (`mlops.monitoring.retraining.decide`).

    Allowed: returns the decision with model_training's conf (reason, window). Not allowed: the signals
    are marked `declined` with the reasons in monitoring.drift_signals and the rest of the run is skipped.
    """

    template_fields: Sequence[str] = ("signal_ids",)
    ui_color = "#fdd0a2"

    def __init__(self, *, signal_ids: Any, training_dag_id: str = "model_training", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signal_ids, self.training_dag_id = signal_ids, training_dag_id

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.monitoring.retraining import review_signals

        active = context["ti"].get_dr_count(dag_id=self.training_dag_id, states=["queued", "running"])
        return review_signals(self.hook.lakehouse, self.hook.settings, self.signal_ids, active, context["run_id"])


class CloseSignalsOperator(UseCaseOperator):
    """Mark the signals consumed by the triggered training run (id from the trigger task's XCom)."""

    template_fields: Sequence[str] = ("signal_ids", "training_run_id", "decision")
    ui_color = "#fdd0a2"

    def __init__(self, *, signal_ids: Any, training_run_id: str, decision: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signal_ids, self.training_run_id, self.decision = signal_ids, training_run_id, decision

    def execute(self, context: Context) -> int:
        from mlops.monitoring.retraining import close_signals

        ids = tuple(self.signal_ids or ())
        changed = close_signals(self.hook.lakehouse, ids, "consumed", str(self.decision), str(self.training_run_id))
        self.log.info("Marked %d signal(s) consumed by model_training run %s", changed, self.training_run_id)
        return changed
