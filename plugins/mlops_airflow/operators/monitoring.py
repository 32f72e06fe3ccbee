"""Monitoring and retraining operators: one day's monitoring with its report, and the retraining guardrails."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import emit_asset_metadata
from mlops_airflow.hooks import UseCaseOperator


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

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops.monitoring.job import describe, run_monitoring
        from mlops.quality.pipeline_gates import GateFailedError

        settings = self.hook.settings
        lakehouse, day, version = (
            self.hook.lakehouse,
            date.fromisoformat(str(self.day)[:10]),
            str(self.model_version),
        )
        try:
            result = run_monitoring(lakehouse, settings, day, version, context["run_id"])
        except (LookupError, GateFailedError) as exc:
            raise AirflowFailException(
                f"Monitoring of {settings.mlflow.model_name} v{version} for {day}: {exc}"
            ) from exc
        for note in result.notes:
            self.log.warning(note)
        report = self._report(settings, result)
        summary = {**result.summary(), "report": str(report), "alert": describe(result)}
        emit_asset_metadata(context, self.outlets, {k: v for k, v in summary.items() if k != "alert"})
        self.log.info("Monitoring summary: %s", summary)
        return summary

    def _report(self, settings: Any, result: Any) -> Path:

        from mlops.monitoring.report import write_report
        from mlops.registry import get_version

        name = f"drift_{result.day}_v{result.model_version}.html"
        path = write_report(result, Path(settings.lakehouse.reports_root) / "_reports" / "drift" / name)
        self.log.info("Drift report: %s", path.resolve().as_uri())
        client = self.hook.mlflow
        run_id = get_version(client, result.model_name, result.model_version).run_id
        client.log_artifact(run_id, str(path), artifact_path=f"monitoring/{result.day}")
        self.log.info("Logged to MLflow: runs:/%s/monitoring/%s/%s", run_id, result.day, name)
        return path


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

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from mlops.monitoring.retraining import close_signals, decide, open_signals

        settings = self.hook.settings
        lakehouse = self.hook.lakehouse
        ids = set(self.signal_ids or [])
        signals = open_signals(lakehouse, settings.mlflow.model_name, tuple(settings.retraining.signal_kinds))
        signals = signals[signals["signal_id"].isin(ids)] if len(signals) else signals
        active = context["ti"].get_dr_count(dag_id=self.training_dag_id, states=["queued", "running"])
        decision = decide(lakehouse, settings, signals, active)
        self.log.info("Guardrail checks: %s", decision.checks)
        if not decision.allowed:
            text = "; ".join(decision.reasons)
            close_signals(lakehouse, decision.signal_ids, "declined", text, context["run_id"])
            raise AirflowSkipException(f"Not retraining: {text}")
        self.log.info("Retraining allowed: %s", decision.conf())
        return decision.summary()


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
