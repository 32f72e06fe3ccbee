"""Batch-inference operators: pin the model, stage the scoring set, score (Spark or Arrow), publish.

The model is pinned once, by the first task, and every later task receives the pinned version as an
XComArg (`resolve.output["version"]`): a promotion during the run cannot mix two versions in one date's
predictions. Each operator calls one step of `mlops.inference.batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata, run_day_count, run_days
from mlops_airflow.hooks import UseCaseOperator, task_outcome

RESOLVE_TASK = "resolve_model"


class _BatchOperator(UseCaseOperator):
    template_fields: Sequence[str] = ("day", "days", "model_version")

    def __init__(
        self,
        *,
        day: Any,
        model_version: Any,
        days: Any = 1,
        spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.day, self.days, self.model_version, self.spark_conn_id = day, days, model_version, spark_conn_id


class ResolveScoringModelOperator(_BatchOperator):
    """Choose the data date and pin the model version that scores it; the rest of the run uses this version.

    The date is `day` when given (a backfill or manual run), else the run's logical date, else (a run
    started by a champion change has none) the latest date published in the use case's entity table.
    `model_version` is `champion` (the alias now), `champion_of_the_time` (the champion for that data
    date, from monitoring.cd_decisions) or a version number. With no champion the task is skipped,
    and so is the rest of the run, with a message and a row in monitoring.inference_runs.
    A run may cover `days` dates from the first (a backfill in fewer runs); one version scores them all.
    Returns {"date", "days", "name", "version", "run_id", "source", "uri"} (`multiple_outputs=True`).
    """

    ui_color = "#dadaeb"

    def __init__(
        self, *, day: Any = "", model_version: Any = "champion", record_outcome: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(day=day, model_version=model_version, **kwargs)
        self.record_outcome = record_outcome

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.inference.batch import pin_model

        given = str(self.day or "").strip()
        first = run_days(given)[0] if given else None  # none: the latest published date
        return pin_model(self.hook.lakehouse, self.hook.settings, first, run_day_count(self.days), self.model_version,
                         context["run_id"], self.record_outcome)  # fmt: skip


class BuildScoringSetOperator(_BatchOperator):
    """Stage each date's entities with point-in-time features in staging.scoring_set (Spark).

    Skips the rest of the run, recording why in monitoring.inference_runs, when the pinned version
    already published every date of the run (a rerun changes nothing) or when they have no entities.
    Fails (and retries) when a date's features are not published yet.
    """

    ui_color = "#fde9d9"

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.inference.batch import stage_dates

        dates = run_days(self.day, self.days)
        return stage_dates(self.spark, self.hook.lakehouse, self.hook.settings, dates, self.model_version,
                           context["run_id"])  # fmt: skip


class BatchScoreOperator(_BatchOperator):
    """Score the staged scoring set with the pinned model version into staging.predictions.

    Engine: `engine` when given, else `inference.engine` from config (`auto` picks arrow below
    `inference.spark_min_rows` rows, spark above). The features are checked against the model's
    signature first: a mismatch fails without retries, naming the columns, and writes nothing.
    """

    template_fields: Sequence[str] = ("day", "days", "model_version", "engine")
    ui_color = "#c6dbef"

    def __init__(self, *, engine: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.inference.batch import score_dates

        dates = run_days(self.day, self.days)
        return score_dates(self.spark, self.hook.lakehouse, self.hook.settings, dates, self.model_version,
                           context["run_id"], self.engine)  # fmt: skip


class PublishPredictionsOperator(_BatchOperator):
    """Append the validated predictions to gold.predictions and monitoring.inference_log, once per (date, version).

    Records the run in monitoring.inference_runs (with `scored`, the scoring step's summary) and attaches
    (table, version, rows, model version) to the outlet assets' events.
    """

    template_fields: Sequence[str] = ("day", "days", "model_version", "model_source", "scored")
    ui_color = "#fff2cc"

    def __init__(self, *, model_source: Any = "", scored: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_source, self.scored = model_source, scored

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.inference.batch import publish_dates

        dates = run_days(self.day, self.days)
        scored = self.scored if isinstance(self.scored, dict) else None
        summary = publish_dates(self.hook.lakehouse, self.hook.settings, dates, self.model_version,
                                context["run_id"], str(self.model_source or "") or None, scored)  # fmt: skip
        emit_asset_metadata(context, self.outlets, summary)
        return summary
