"""
# batch_inference

Scores the data date's entities with the use case's champion model and appends the predictions.

**Triggers.** Daily (`schedules.batch_inference`; the run for day D scores the entities of date D);
also whenever the champion alias moves, if `inference.on_champion_change` is true (such a run has no
logical date and scores the latest date with features); manually or as a backfill with the form
below.

**Steps.**
1. `resolve_model`: pins the model version once (`model_version`: `champion` now,
   `champion_of_the_time` for the data date, or a number). Every later task uses this pinned
   version, so a promotion during the run cannot mix versions. No champion: the run is skipped,
   with the reason in the log and in `monitoring.inference_runs`.
2. `build_scoring_set` (Spark): the date's entities with point-in-time features as of each
   prediction time (the same join as training), staged in `staging.scoring_set`. Already published
   by this version: skipped ("already scored"). No entities that day: skipped, recorded as `empty`.
3. `validate_scoring_set` (GX): keys unique and non-null, prediction times in the day, coded keys
   among their contract's values, feature ranges, null fraction per feature <= `inference.max_feature_null_fraction`.
4. `score`: checks the features against the model signature (a mismatch fails naming the columns,
   nothing written), then scores with the `spark` engine (`mlflow.pyfunc.spark_udf`) or the `arrow`
   engine (Arrow record batches streamed from Delta through the model in process, bounded memory),
   per `inference.engine` (`auto`: arrow below `inference.spark_min_rows` rows). Both engines give
   identical predictions.
5. `validate_predictions` (GX): one prediction per scoring-set row, no nulls; probabilities in [0, 1]
   (classifiers), a predicted class among the model's classes (multiclass), finite values (regression).
6. `publish`: appends to `gold.predictions` (entity keys, prediction time, the task's prediction
   columns, model name, version, run id, scored-at, Airflow run id) and `monitoring.inference_log`
   (the feature values scored), once per (date, model version): a rerun adds nothing; another
   version adds its own rows beside the old ones (append-only history). Prediction columns: binary
   `probability` and `decision` at `inference.decision_threshold`; multiclass `prediction` (the
   likeliest class), its `probability` and every class's `probabilities`; regression `prediction`.

**Backfill.** `airflow backfill create --dag-id <use case>.batch_inference --from-date 2013-01-22
--to-date 2013-01-28 --dag-run-conf '{"model_version": "champion_of_the_time"}'`, or one date with
*Trigger DAG w/ config* (`date`, `days`, `model_version`, `engine`). With `days` N a run scores N
dates from the first (one pinned version for all, each date staged, validated and published on its
own): fewer, bigger runs for a backfill or replay.

**When it fails:** features not yet published for the date (retries; run `feature_refresh`), a gate
refusal or signature mismatch (no retry: fix the data or the model), MLflow or Spark errors (retry).
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, Param

from mlops_airflow.assets import champion_asset, table_asset
from mlops_airflow.common import days_param
from mlops_airflow.operators.inference import (
    RESOLVE_TASK,
    BatchScoreOperator,
    BuildScoringSetOperator,
    PublishPredictionsOperator,
    ResolveScoringModelOperator,
)
from mlops_airflow.operators.quality import QualityGateOperator
from mlops_airflow.scheduling import data_interval_schedule, usecase_dag, usecase_settings


def _schedule(settings):
    timetable = data_interval_schedule(settings.schedules.batch_inference)
    if not settings.inference.on_champion_change:
        return timetable
    champion = champion_asset(settings.mlflow.model_name)
    return AssetOrTimeSchedule(timetable=timetable, assets=champion) if timetable else champion


def build(settings):
    """The batch_inference DAG of one use case."""

    @usecase_dag(
        settings,
        "batch_inference",
        __doc__,
        tags=["inference"],
        schedule=_schedule(settings),
        params=PARAMS,
    )
    def batch_inference():
        _wire(settings)

    return batch_inference()


PARAMS = {
    "date": Param(
        None,
        type=["null", "string"],
        format="date",
        title="Date to score",
        description="Entities of this date; empty: the run's logical date.",
    ),
    "days": days_param("How many dates, from the first, this run scores (a backfill in fewer runs)."),
    "model_version": Param(
        "champion",
        type="string",
        pattern=r"^(champion|champion_of_the_time|[1-9][0-9]*)$",
        title="Model version",
        description="champion (now), champion_of_the_time (for the date) or a version number.",
    ),
    "engine": Param(
        "config",
        type="string",
        enum=["config", "spark", "arrow"],
        title="Scoring engine",
        description="config: inference.engine from the environment's config.",
    ),
}


def _wire(settings):
    resolve = ResolveScoringModelOperator(
        task_id=RESOLVE_TASK,
        day="{{ params.date or (ds if dag_run.logical_date else '') }}",
        days="{{ params.days }}",
        model_version="{{ params.model_version }}",
        doc_md="Pins the date and the model version (XCom) for the whole run; skips the run when there is no champion.",
        multiple_outputs=True,
    )
    # The pinned date, days and version reach every later task as XComArgs (one XCom per key).
    pinned = {"day": resolve.output["date"], "days": resolve.output["days"]}
    version = resolve.output["version"]
    stage = BuildScoringSetOperator(
        task_id="build_scoring_set",
        **pinned,
        model_version=version,
        doc_md="Point-in-time scoring set of the date in `staging.scoring_set`; skips when already scored or empty.",
    )
    gate_inputs = QualityGateOperator(
        task_id="validate_scoring_set",
        gate="scoring_set",
        target="staging.scoring_set",
        **pinned,
        doc_md="GX gate on the scoring set; the task log links the result and Data Docs.",
    )
    score = BatchScoreOperator(
        task_id="score",
        **pinned,
        model_version=version,
        engine="{{ params.engine }}",
        doc_md="Signature check, then the spark or arrow engine into `staging.predictions`.",
    )
    gate_outputs = QualityGateOperator(
        task_id="validate_predictions",
        gate="predictions",
        target="gold.predictions",
        **pinned,
        model_version=version,
        doc_md="GX gate: one valid prediction per input row (probability in [0, 1], known class, finite value).",
    )
    publish = PublishPredictionsOperator(
        task_id="publish",
        **pinned,
        model_version=version,
        model_source=resolve.output["source"],
        scored=score.output,
        outlets=[table_asset(settings.usecase, t) for t in ("gold.predictions", "monitoring.inference_log")],
        doc_md="Appends to `gold.predictions` and `monitoring.inference_log` once per (date, model version).",
    )
    resolve >> stage >> gate_inputs >> score >> gate_outputs >> publish


for _settings in usecase_settings():
    build(_settings)
