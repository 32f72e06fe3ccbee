"""
# model_training

Trains a new version of the environment's flight-delay model and registers it in MLflow.

**Triggers.** Weekly (`schedules.model_training`; the run for week W trains on flights up to the
day before its data interval ends); also whenever every feature table has been updated, if
`schedules.train_on_feature_updates` is true (staging); manually with the form below; and by
`drift_retraining`, which passes `{"reason": "drift: ..."}` in the run conf.

**What the `train_model` task does** (`mlops.training.train_model`):
1. Training set: flights of the window whose outcome was known by the cutoff (00:00 UTC after
   `window_end`; cancelled and diverted flights count as delayed), with point-in-time features as
   of each flight's prediction time from every `features.*` table.
2. Time split: the last `training.test_days` are held out, the `validation_days` before them drive
   tuning and early stopping, the rest trains.
3. HistGradientBoostingClassifier (native categoricals: carrier, origin, dest), tuned over a small
   fixed search space within the budget (trials, seconds) from config or the form; fixed seed.
4. Held-out ROC AUC, PR AUC, log loss, Brier, calibration for the model and for the heuristic
   baseline (trailing carrier delay rate), with the lift.
5. One MLflow run in the environment's experiment: params, metrics, curves, calibration plot,
   permutation importance, evaluation table, datasets pointing at the Delta tables and versions,
   tags (git sha, env, DAG/run id, data window), and the model (pyfunc returns probabilities).
6. A new version of `mlflow.model_name` with a description and no alias; a row in
   `monitoring.training_runs`; an event on asset `mlflow.models.<model_name>` (metadata: model
   name, version, run id, key metrics) that starts `model_promotion`.

**Reads** `bronze.flights`, `features.*`. **Writes** MLflow run + model version,
`monitoring.training_runs`.

**Run by hand:** *Trigger DAG w/ config* in the UI, or
`airflow dags trigger model_training -c '{"window_end": "2013-01-28", "window_days": 28, "reason": "manual"}'`.

**When it fails:** a data refusal (missing feature table, empty window, one class, too few rows)
fails without retries and names the cause; nothing is registered. Run `feature_refresh` for the
window, or pick another window, then trigger again. Other errors (MLflow server, Spark) retry.
"""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from airflow.sdk import AssetAll, AssetOrTimeSchedule, Param, dag

from mlops.config import TrainingSettings
from mlops.features.registry import FEATURE_TABLES
from mlops_airflow.assets import model_asset, table_asset
from mlops_airflow.operators.training import TrainModelOperator
from mlops_airflow.scheduling import DEFAULT_ARGS, dag_settings, data_interval_schedule

SETTINGS = dag_settings()
MODEL_REGISTERED = model_asset(SETTINGS.mlflow.model_name)
FEATURES_UPDATED = AssetAll(*(table_asset(t.name) for t in FEATURE_TABLES))
TRAINING = SETTINGS.training


def _schedule():
    timetable = data_interval_schedule(SETTINGS.schedules.model_training)
    if not SETTINGS.schedules.train_on_feature_updates:
        return timetable
    return AssetOrTimeSchedule(timetable=timetable, assets=FEATURES_UPDATED) if timetable else FEATURES_UPDATED


@dag(
    schedule=_schedule(),
    start_date=datetime(2013, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mlops", "training"],
    doc_md=__doc__,
    params={
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Training window end",
            description="Last flight date to learn from; empty: the day before the data interval ends.",
        ),
        "window_days": Param(
            TRAINING.train_window_days,
            type="integer",
            minimum=TRAINING.validation_days + TRAINING.test_days + 1,
            title="Window length (days)",
            description="Train + validation + test days.",
        ),
        "tuning_trials": Param(TRAINING.tuning_trials, type="integer", minimum=1, maximum=16, title="Tuning trials"),
        "tuning_timeout_seconds": Param(
            TRAINING.tuning_timeout_seconds, type="integer", minimum=1, title="Tuning budget (seconds)"
        ),
        "model_family": Param(
            TRAINING.model_family,
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
    },
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
        outlets=[MODEL_REGISTERED],
    )


model_training()
