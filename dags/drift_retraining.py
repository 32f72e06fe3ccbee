"""
# drift_retraining

Turns drift signals into retraining, behind guardrails.

**How it runs.** Continuously, one run at a time: `wait_for_signal` (a deferrable sensor: it waits in
the triggerer, holding no worker slot) polls `monitoring.drift_signals` every `retraining.poke_seconds`
for an open signal of a kind in `retraining.signal_kinds` (up to `retraining.wait_hours`, then the run
is skipped and the next one waits again).

**Guardrails** (`decide`, on the data clock): no `model_training` run active; `retraining.cooldown_days`
since the data the latest model was trained up to; at least `retraining.min_new_labelled_rows` new
flights since then; fewer than `retraining.max_retrains` drift-triggered retrains in
`retraining.period_days`; `retraining.enabled`. Not allowed: the signals are marked `declined` with the
reasons (visible in the table and the log) and the run ends skipped.

**Allowed:** `trigger_training` starts `model_training` with conf `{"reason": "drift: ...",
"window_end": <latest signal day>, "window_days": training.train_window_days}`, and `mark_consumed`
records the training run id on the signals. `model_promotion` then decides, as for any new version,
whether it replaces the champion.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag

from mlops_airflow.operators.monitoring import CloseSignalsOperator, RetrainingGuardrailsOperator
from mlops_airflow.scheduling import DEFAULT_ARGS
from mlops_airflow.sensors.drift import DriftSignalSensor


@dag(
    schedule="@continuous",
    start_date=datetime(2013, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 0},
    tags=["mlops", "monitoring", "training"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
)
def drift_retraining():
    wait = DriftSignalSensor(task_id="wait_for_signal", doc_md="Deferrable: waits in the triggerer for an open signal.")
    decide = RetrainingGuardrailsOperator(
        task_id="decide",
        signal_ids="{{ ti.xcom_pull(task_ids='wait_for_signal') }}",
        doc_md="Guardrails; declined signals are recorded with the reasons and the run is skipped.",
    )
    trigger = TriggerDagRunOperator(
        task_id="trigger_training",
        trigger_dag_id="model_training",
        trigger_run_id="drift__{{ run_id }}",
        conf="{{ ti.xcom_pull(task_ids='decide')['conf'] }}",
        skip_when_already_exists=True,
        doc_md="Starts model_training with the reason and window; model_promotion follows the new version.",
    )
    consumed = CloseSignalsOperator(
        task_id="mark_consumed",
        signal_ids="{{ ti.xcom_pull(task_ids='decide')['signal_ids'] }}",
        training_run_id="drift__{{ run_id }}",
        decision="{{ ti.xcom_pull(task_ids='decide')['conf']['reason'] }}",
        doc_md="Records the training run on the signals (status consumed).",
    )
    wait >> decide >> trigger >> consumed


drift_retraining()
