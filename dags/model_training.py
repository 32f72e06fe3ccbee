"""
# model_training

Trains a new version of the use case's model for this environment and registers it in MLflow.

**Triggers.** Weekly (`schedules.model_training`; the run for week W trains on entities up to the
latest day whose labels are complete: the label lag before the day before its data interval
ends); also whenever every feature table has been updated, if
`schedules.train_on_feature_updates` is true (staging); manually with the form below; and by
`drift_retraining`, which passes `{"reason": "drift: ..."}` in the run conf.

**What the `train_model` task does** (`mlops.training.train_model`):
1. Training set: entities of the window whose label (the use case's rule) was known by the cutoff
   (00:00 UTC after `window_end` + the label lag: every day, the held-out ones too, has complete
   labels), with point-in-time features as of each entity's prediction time
   from every `features.*` table (a row of date D sees only feature partitions dated D or earlier,
   as in batch inference).
2. Time split: the last `training.test_days` are held out, the `validation_days` before them drive
   tuning and early stopping, the rest trains.
3. The use case's estimator, tuned over its small fixed search space within the budget (trials,
   seconds) from config or the form; fixed seed.
4. Held-out metrics of the model's task type (`mlops.task_metrics`) for the model and for the use
   case's business baseline, with the lift: ROC AUC, PR AUC, log loss, Brier, calibration (binary);
   macro F1, log loss, accuracy (multiclass); RMSE, MAE, R2 (regression). Early stopping minimises
   the validation log loss (classifiers) or mean squared error (regression).
5. One MLflow run in the environment's experiment: params, metrics, plots (ROC, PR and calibration
   curves for binary; predicted vs actual for regression), permutation importance on the primary
   metric, evaluation table, datasets pointing at the Delta tables and versions, tags (git sha, env,
   DAG/run id, data window), and the model, saved with skops trusting the model spec's types (pyfunc
   returns class probabilities for classifiers, values for regression).
6. A new version of `mlflow.model_name` with a description and no alias; a row in
   `monitoring.training_runs`; an event on asset `mlflow.models.<model_name>` (metadata: model
   name, version, run id, key metrics) that starts `model_promotion`.

**Reruns.** Before step 3 the run's training fingerprint (rows, window, family, budget, training
settings, platform and use-case sources; tag `mlops.training_fingerprint`) is looked up in the
registry. A version with the same fingerprint that CD has not decided yet is returned as the
task's output (its event lets `model_promotion` finish it); one CD decided skips the task: nothing
is fitted, registered or recorded, and no event starts `model_promotion`.

**Reads** the label's bronze table, `features.*`. **Writes** MLflow run + model version,
`monitoring.training_runs`.

**Run by hand:** *Trigger DAG w/ config* in the UI, or
`airflow dags trigger <use case>.model_training -c '{"window_end": "2013-01-28", "window_days": 28,
"reason": "manual"}'`.

**When it fails:** a data refusal (missing feature table, empty window, one class, too few rows)
fails without retries and names the cause; nothing is registered. Run `feature_refresh` for the
window, or pick another window, then trigger again. Other errors (MLflow server, Spark) retry.
"""

from __future__ import annotations

from typing import get_args

from airflow.sdk import AssetAll, AssetOrTimeSchedule, Param

from mlops.config import TrainingSettings
from mlops.usecase import usecase_of
from mlops_airflow.assets import model_asset, table_asset
from mlops_airflow.operators.training import TrainModelOperator
from mlops_airflow.scheduling import data_interval_schedule, usecase_dag, usecase_settings


def _schedule(settings):
    timetable = data_interval_schedule(settings.schedules.model_training)
    if not settings.schedules.train_on_feature_updates:
        return timetable
    updated = AssetAll(*(table_asset(settings.usecase, t.name) for t in usecase_of(settings).features.tables))
    return AssetOrTimeSchedule(timetable=timetable, assets=updated) if timetable else updated


def build(settings):
    """The model_training DAG of one use case."""
    training = settings.training

    @usecase_dag(
        settings,
        "model_training",
        __doc__,
        tags=["training"],
        schedule=_schedule(settings),
        params=_params(training),
    )
    def model_training():
        TrainModelOperator(
            task_id="train_model",
            window_end="{{ params.window_end or '' }}",
            window_days="{{ params.window_days }}",
            tuning_trials="{{ params.tuning_trials }}",
            tuning_timeout_seconds="{{ params.tuning_timeout_seconds }}",
            model_family="{{ params.model_family }}",
            reason="{{ params.reason }}",
            outlets=[model_asset(settings.mlflow.model_name)],
        )

    return model_training()


def _params(training):
    return {
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Training window end",
            description="Last entity date to learn from; empty: the day before the data interval ends.",
        ),
        "window_days": Param(
            training.train_window_days,
            type="integer",
            minimum=training.validation_days + training.test_days + 1,
            title="Window length (days)",
            description="Train + validation + test days.",
        ),
        "tuning_trials": Param(training.tuning_trials, type="integer", minimum=1, maximum=16, title="Tuning trials"),
        "tuning_timeout_seconds": Param(
            training.tuning_timeout_seconds, type="integer", minimum=1, title="Tuning budget (seconds)"
        ),
        "model_family": Param(
            training.model_family,
            type="string",
            enum=list(get_args(TrainingSettings.model_fields["model_family"].annotation)),
            title="Model family",
        ),
        "reason": Param(
            "",
            type="string",
            title="Reason",
            description="Why this run trains (tagged on the run and version); empty: the run type.",
        ),
    }


for _settings in usecase_settings():
    build(_settings)
