"""
# drift_retraining

Turns drift signals into retraining, behind guardrails.

**How it runs.** Continuously, one run at a time: `wait_for_signal` (a deferrable sensor: it waits in
the triggerer, holding no worker slot) polls `monitoring.drift_signals` every `retraining.poke_seconds`
for an open signal of a kind in `retraining.signal_kinds` (up to `retraining.wait_hours`, then the run
is skipped and the next one waits again).

**Guardrails** (`decide`, on the data clock): no `model_training` run active; `retraining.cooldown_days`
since the data the latest model was trained up to; at least `retraining.min_new_labelled_rows` new
labelled entities since then; fewer than `retraining.max_retrains` drift-triggered retrains in
`retraining.period_days`; `retraining.enabled`. Not allowed: the signals are marked `declined` with the
reasons (visible in the table and the log) and the run ends skipped.

**Allowed:** `trigger_training` starts `model_training` with conf `{"reason": "drift: ...",
"window_end": <latest signal day>, "window_days": training.train_window_days}`, and `mark_consumed`
records the training run id on the signals. `model_promotion` then decides, as for any new version,
whether it replaces the champion.
"""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

from mlops_airflow.operators.monitoring import CloseSignalsOperator, RetrainingGuardrailsOperator
from mlops_airflow.scheduling import dag_id, usecase_args, usecase_dag, usecase_settings
from mlops_airflow.sensors.signal_sensor import DriftSignalSensor


def build(settings):
    """The drift_retraining DAG of one use case."""

    @usecase_dag(
        settings,
        "drift_retraining",
        __doc__,
        tags=["monitoring", "training"],
        schedule="@continuous",
        render_template_as_native_obj=True,
        default_args={**usecase_args(settings), "retries": 0},
    )
    def drift_retraining():
        _wire(settings)

    return drift_retraining()


def _wire(settings):
    training_dag = dag_id(settings, "model_training")
    wait = DriftSignalSensor(task_id="wait_for_signal", doc_md="Deferrable: waits in the triggerer for an open signal.")
    decide = RetrainingGuardrailsOperator(
        task_id="decide",
        signal_ids=wait.output,
        training_dag_id=training_dag,
        multiple_outputs=True,
        doc_md="Guardrails; declined signals are recorded with the reasons and the run is skipped.",
    )
    trigger = TriggerDagRunOperator(
        task_id="trigger_training",
        trigger_dag_id=training_dag,
        trigger_run_id="drift__{{ run_id }}",
        conf=decide.output["conf"],
        skip_when_already_exists=True,
        doc_md="Starts model_training with the reason and window; model_promotion follows the new version.",
    )
    consumed = CloseSignalsOperator(
        task_id="mark_consumed",
        signal_ids=decide.output["signal_ids"],
        training_run_id="drift__{{ run_id }}",
        decision=decide.output["reason"],
        doc_md="Records the training run on the signals (status consumed).",
    )
    wait >> decide >> trigger >> consumed


for _settings in usecase_settings():
    build(_settings)
