"""Batch-inference operators: pin the model, stage the scoring set, score (Spark or Arrow), publish.

The model is resolved once, by the first task, and every later task receives the pinned version
through XCom: a promotion during the run cannot mix two versions in one date's predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from mlops.usecase.contract import ENTITY_DATE
from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata, run_days, spark_for_task
from mlops_airflow.hooks import UseCaseOperator

if TYPE_CHECKING:
    from mlops.config import Settings
    from mlops.inference import ScoringModel
    from mlops.lakehouse import Lakehouse

RESOLVE_TASK = "resolve_model"


def _empty(value: Any) -> bool:
    return value is None or str(value).strip() in ("", "None")


def _parse_day(value: Any, name: str = "date") -> date:
    from airflow.sdk.exceptions import AirflowFailException

    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise AirflowFailException(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def _pinned(settings: Settings, version: Any) -> ScoringModel:
    """The pinned version as a ScoringModel (registry lookup of its run id)."""
    from airflow.sdk.exceptions import AirflowFailException
    from mlflow import MlflowClient

    from mlops.inference import ScoringModel
    from mlops.registry import RegistryInputError, get_version

    if _empty(version):
        raise AirflowFailException(f"No model version from {RESOLVE_TASK}; it must run (and succeed) first")
    try:
        mv = get_version(MlflowClient(tracking_uri=settings.mlflow.tracking_uri), settings.mlflow.model_name, version)
    except RegistryInputError as exc:
        raise AirflowFailException(str(exc)) from exc
    return ScoringModel(mv.name, str(mv.version), mv.run_id, "pinned")


class ResolveScoringModelOperator(UseCaseOperator):
    """Choose the data date and pin the model version that scores it; the rest of the run uses this version.

    The date is `day` when given (a backfill or manual run), else the run's logical date, else (a run
    started by a champion change has none) the latest date published in the use case's entity table.
    `model_version` is `champion` (the alias now), `champion_of_the_time` (the champion for that data
    date, from monitoring.cd_decisions) or a version number. With no champion the task is skipped,
    and so is the rest of the run, with a message and a row in monitoring.inference_runs.
    A run may cover `days` dates from the first (a backfill in fewer runs); one version scores them all.
    Returns {"date", "days", "name", "version", "run_id", "source", "uri"}.
    """

    template_fields: Sequence[str] = ("day", "days", "model_version")
    ui_color = "#dadaeb"

    def __init__(
        self,
        *,
        day: str = "",
        days: str | int = 1,
        model_version: str = "champion",
        record_outcome: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.day, self.days, self.model_version, self.record_outcome = day, days, model_version, record_outcome

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from mlops.inference import NoModelError, record_run, resolve_model
        from mlops.registry import RegistryInputError

        settings, lakehouse = self.hook.settings, self.hook.lakehouse
        day = self._day(lakehouse)
        count = len(run_days(day, self.days))
        selector = "champion" if _empty(self.model_version) else str(self.model_version)
        try:
            model = resolve_model(settings, selector, day, lakehouse)
        except NoModelError as exc:
            message = f"Skipping batch inference for {day}: {exc}"
            row = {
                ENTITY_DATE: day,
                "outcome": "no_model",
                "message": message,
                "model_name": settings.mlflow.model_name,
            }
            if self.record_outcome:
                record_run(lakehouse, row, context["run_id"])
            raise AirflowSkipException(message) from exc
        except (RegistryInputError, ValueError) as exc:
            raise AirflowFailException(str(exc)) from exc
        self.log.info(
            "Scoring %s with %s v%s (%s), pinned as %s", day, model.name, model.version, model.source, model.uri
        )
        return {"date": day.isoformat(), "days": count, **model.summary()}

    def _day(self, lakehouse: Lakehouse) -> date:
        from mlops.inference import FeaturesNotReadyError
        from mlops.training import TrainingDataError, latest_entity_date

        if not _empty(self.day):
            return _parse_day(self.day)
        try:
            latest = latest_entity_date(lakehouse, self.hook.usecase)
        except TrainingDataError as exc:
            raise FeaturesNotReadyError(str(exc)) from exc
        self.log.info("No logical date (a run started by a champion change): scoring the latest date %s", latest)
        return latest


class BuildScoringSetOperator(UseCaseOperator):
    """Stage each date's entities with point-in-time features in staging.scoring_set (Spark).

    Skips the rest of the run, recording why in monitoring.inference_runs, when the pinned version
    already published every date of the run (a rerun changes nothing) or when they have no entities.
    Fails (and retries) when a date's features are not published yet.
    """

    template_fields: Sequence[str] = ("day", "days", "model_version")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        day: str,
        model_version: str,
        days: str | int = 1,
        spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.day, self.days, self.model_version, self.spark_conn_id = day, days, model_version, spark_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from mlops.inference import SCORING_SET, already_published, build_scoring_set, check_features_ready, record_run

        settings, lakehouse = self.hook.settings, self.hook.lakehouse
        dates, model = run_days(self.day, self.days), _pinned(settings, self.model_version)
        check_features_ready(lakehouse, self.hook.usecase, dates[-1])
        todo = [day for day in dates if not already_published(lakehouse, day, model.version)]
        if not todo:
            message = f"{_span(dates)} already scored by {model.name} v{model.version}: nothing to do"
            for day in dates:
                row = {ENTITY_DATE: day, "model_name": model.name, "model_version": model.version}
                record_run(lakehouse, {**row, "outcome": "already_scored", "message": message}, context["run_id"])
            raise AirflowSkipException(message)
        spark = spark_for_task(settings, self.spark_conn_id, f"{self.dag_id}.{self.task_id}")
        rows = {}
        for day in dates:  # every date, so that the later tasks see one staged partition per date of the run
            staged = build_scoring_set(spark, lakehouse, settings, day)
            rows[day.isoformat()] = staged.rows
            self.log.info(
                "Staged %d rows in %s for %s; PIT matches per table: %s", staged.rows, SCORING_SET, day, staged.pit
            )
        if not any(rows.values()):
            usecase = self.hook.usecase
            message = f"No {usecase.entity.noun}s on {_span(dates)} in {usecase.entity.table}: nothing to score"
            for day in dates:
                row = {ENTITY_DATE: day, "model_name": model.name, "model_version": model.version, "rows": 0}
                record_run(lakehouse, {**row, "outcome": "empty", "message": message}, context["run_id"])
            raise AirflowSkipException(message + " (recorded in monitoring.inference_runs)")
        summary = staged.summary() if len(dates) == 1 else {"rows": sum(rows.values()), "rows_per_date": rows}
        return summary


def _span(dates: list[date]) -> str:
    return str(dates[0]) if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"


class BatchScoreOperator(UseCaseOperator):
    """Score the staged scoring set with the pinned model version into staging.predictions.

    Engine: `engine` when given, else `inference.engine` from config (`auto` picks arrow below
    `inference.spark_min_rows` rows, spark above). The features are checked against the model's
    signature first: a mismatch fails without retries, naming the columns, and writes nothing.
    """

    template_fields: Sequence[str] = ("day", "days", "model_version", "engine")
    ui_color = "#c6dbef"

    def __init__(
        self,
        *,
        day: str,
        model_version: str,
        days: str | int = 1,
        engine: str = "",
        spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.day, self.days, self.model_version, self.engine = day, days, model_version, engine
        self.spark_conn_id = spark_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops.inference import ENGINES, SCORING_SET, ScoreRequest, SignatureMismatchError, choose_engine, score

        settings, lakehouse = self.hook.settings, self.hook.lakehouse
        model = _pinned(settings, self.model_version)
        results = []
        for day in run_days(self.day, self.days):
            rows = lakehouse.read(SCORING_SET, columns=[ENTITY_DATE], filters=[(ENTITY_DATE, "=", day)]).num_rows
            if rows == 0:
                self.log.info("No staged rows for %s: nothing to score", day)
                continue
            engine = choose_engine(settings, rows) if _empty(self.engine) or self.engine == "config" else self.engine
            if engine not in ENGINES:
                raise AirflowFailException(f"Unknown scoring engine {engine!r}; use one of {', '.join(ENGINES)}")
            spark = None
            if engine == "spark":
                spark = spark_for_task(settings, self.spark_conn_id, f"{self.dag_id}.{self.task_id}")
            self.log.info(
                "Scoring %d rows of %s with %s v%s on the %s engine", rows, day, model.name, model.version, engine
            )
            request = ScoreRequest(
                model, day, settings.inference.decision_threshold, context["run_id"], settings.inference.batch_rows
            )
            try:
                result = score(lakehouse, request, engine, spark)
            except SignatureMismatchError as exc:
                raise AirflowFailException(str(exc)) from exc
            rate = result.rows / max(result.seconds, 1e-9)
            self.log.info("Scored %d rows in %.1fs (%.0f rows/s)", result.rows, result.seconds, rate)
            results.append(result.summary())
        if len(results) == 1:
            return results[0]
        return {
            "engine": results[-1]["engine"] if results else None,
            "rows": sum(r["rows"] for r in results),
            "seconds": sum(r["seconds"] for r in results),
            "dates": len(results),
        }


class PublishPredictionsOperator(UseCaseOperator):
    """Append the validated predictions to gold.predictions and monitoring.inference_log, once per (date, version).

    Records the run in monitoring.inference_runs and attaches (table, version, rows, model version) to
    the outlet assets' events.
    """

    template_fields: Sequence[str] = ("day", "days", "model_version", "model_source")
    ui_color = "#fff2cc"

    def __init__(
        self,
        *,
        day: str,
        model_version: str,
        days: str | int = 1,
        model_source: str = "",
        score_task_id: str = "score",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.day, self.days, self.model_version, self.model_source = day, days, model_version, model_source
        self.score_task_id = score_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.inference import publish, record_run

        settings, lakehouse = self.hook.settings, self.hook.lakehouse
        model = _pinned(settings, self.model_version)
        scored = context["ti"].xcom_pull(task_ids=self.score_task_id) or {}
        summaries = []
        for day in run_days(self.day, self.days):
            published = publish(lakehouse, self.hook.usecase, day, model.version)
            rows = published.predictions.rows
            row = {
                ENTITY_DATE: day,
                "outcome": "already_scored" if published.predictions.skipped else "scored",
                "message": "already published" if published.predictions.skipped else f"{rows} predictions appended",
                "model_name": model.name,
                "model_version": model.version,
                "model_source": self.model_source or None,
                "engine": scored.get("engine"),
                "rows": rows,
                "seconds": scored.get("seconds"),
            }
            record_run(lakehouse, row, context["run_id"])
            summaries.append({**published.summary(), "date": day.isoformat()})
            self.log.info("Published %s", summaries[-1])
        summary = {**summaries[-1], "model_name": model.name, "model_version": model.version}
        if len(summaries) > 1:
            summary["rows"] = sum(s.get("rows", 0) or 0 for s in summaries)
            summary["days"] = len(summaries)
        emit_asset_metadata(context, self.outlets, summary)
        return summary
