"""
# model_monitoring

Daily health of the champion: data drift against what it learned from, performance on the labels
that arrived since its predictions, and drift signals for `drift_retraining`.

**Steps.**
1. `resolve_model`: the champion now (no champion: the run is skipped).
2. `monitor`: bins the day's scored inputs and predictions (`monitoring.inference_log`, streamed) in
   the champion's reference profile (stored at training time) and computes per feature PSI, the
   normalised Wasserstein distance and KS (numeric), PSI, Jensen-Shannon and chi-square (categorical),
   thresholds from `monitoring.*` (per feature in `monitoring.feature_thresholds`), and the dataset rule
   (share of drifted features >= `monitoring.drifted_share_threshold`). Joins outcomes known by the end
   of the day to `gold.predictions`: the task type's metrics (ROC AUC, log loss, Brier; macro F1, log
   loss, accuracy; RMSE, MAE, R2) for the day the use case's label lag (`labels.lag_days`) back and the
   trailing `monitoring.performance_window_days` window; a performance breach is `violation_k` of the
   last `violation_n` windows beyond the primary metric's limit (`monitoring.primary_limit`: a minimum
   for ROC AUC and macro F1, a maximum for RMSE; binary default `min_roc_auc`), the latest included.
   GX gates validate the rows, then they are appended to `monitoring.feature_drift`,
   `monitoring.model_performance` and (one row per breach) `monitoring.drift_signals`. An HTML drift
   report with plots is written to `<reports root>/_reports/drift/` (`lakehouse.reports_root`, default
   the lakehouse root) and logged to MLflow under the champion's run (`monitoring/<date>/`).
3. `alert`: on a breach, `MonitoringAlertNotifier`: always the task log; a webhook (connection
   `mlops_alerts_webhook`) and email (connection `mlops_alerts_smtp`) when configured.

**When it fails:** the champion has no reference profile (trained before profiles existed: retrain it),
or a gate refused a statistic (a bug: the rows are not written). A rerun for the same day adds nothing.
"""

from __future__ import annotations

from airflow.sdk import task

from mlops_airflow.assets import table_asset
from mlops_airflow.operators.inference import RESOLVE_TASK, ResolveScoringModelOperator
from mlops_airflow.operators.monitoring import MonitorModelOperator
from mlops_airflow.scheduling import data_interval_schedule, usecase_dag, usecase_settings

OUTPUTS = ("monitoring.feature_drift", "monitoring.model_performance", "monitoring.drift_signals")


@task(doc_md="On a breach, alert through MonitoringAlertNotifier (log; webhook / email when configured).")
def alert(summary: dict, **context) -> list[str]:
    """Send the alert when the monitoring found a breach; return where it went."""
    from mlops_airflow.notifiers import MonitoringAlertNotifier

    if not summary or not summary.get("signals"):
        print(f"No breach for {summary.get('date') if summary else 'this run'}: no alert")
        return []
    notifier = MonitoringAlertNotifier(
        text=summary["alert"], subject=f"Monitoring breach: {', '.join(summary['signals'])}"
    )
    notifier(context)
    return notifier.delivered


def build(settings):
    """The model_monitoring DAG of one use case."""

    @usecase_dag(
        settings,
        "model_monitoring",
        __doc__,
        tags=["monitoring"],
        schedule=data_interval_schedule(settings.schedules.model_monitoring),
    )
    def model_monitoring():
        _wire(settings)

    return model_monitoring()


def _wire(settings):
    resolve = ResolveScoringModelOperator(
        task_id=RESOLVE_TASK,
        day="{{ ds }}",
        model_version="champion",
        record_outcome=False,
        doc_md="The champion to monitor; skips the run when there is none.",
        multiple_outputs=True,
    )
    monitor = MonitorModelOperator(
        task_id="monitor",
        day="{{ ds }}",
        model_version=resolve.output["version"],
        outlets=[table_asset(settings.usecase, t) for t in OUTPUTS],
        doc_md="Drift, performance, signals (GX-gated), the HTML report (lakehouse and MLflow).",
    )
    resolve >> monitor
    alert(monitor.output)


for _settings in usecase_settings():
    build(_settings)
