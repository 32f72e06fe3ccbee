"""The batch-inference flow of one run, one function per step: pin the model, stage, score, publish.

A run covers one or more data dates and is scored by one pinned model version. Each step records what it
did (or why there was nothing to do) in monitoring.inference_runs, raises `NothingToDo` when the rest of
the run has nothing to do (no champion yet, already scored, no entities) and a `Refusal` when the input is
wrong (an unknown version or engine, a model whose signature the features do not match). The Airflow
operators call one of these each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mlops.errors import NothingToDo, Refusal
from mlops.inference.engines import ENGINES, ScoreRequest, choose_engine, score
from mlops.inference.pinning import CHAMPION, NoModelError, ScoringModel, resolve_model
from mlops.inference.publish import Published, already_published, prediction_output, publish, record_run
from mlops.inference.scoring_set import SCORING_SET, build_scoring_set, check_features_ready
from mlops.usecase import ENTITY_DATE, usecase_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse

log = logging.getLogger(__name__)

SparkFactory = Callable[[], "SparkSession"]


class UnknownEngineError(Refusal, ValueError):
    """The scoring engine asked for is not one of ENGINES."""


def span(dates: list[date]) -> str:
    """`2013-01-22` or `2013-01-22..2013-01-28`: the dates of a run, for messages."""
    return str(dates[0]) if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"


def pin_model(
    lakehouse: Lakehouse,
    settings: Settings,
    first: date | None,
    days: int,
    selector: Any,
    run_id: str,
    record: bool = True,
) -> dict[str, Any]:
    """Pin the version that scores every date of the run: `champion`, `champion_of_the_time` or a number.

    The run covers `days` dates from `first`; without `first` (a run started by a champion change has no
    logical date) from the latest date published in the use case's entity table. Returns {"date", "days",
    "name", "version", "run_id", "source", "uri"} for the later steps.

    Raises:
        NoModelError (NothingToDo): no champion (for the date); recorded as `no_model` when `record`.
        RegistryInputError (Refusal): an unknown selector, or a version that does not exist or was rejected.
        FeaturesNotReadyError: no `first` and no entity date published yet.
    """
    if first is None:
        first = _latest_date(lakehouse, settings)
        log.info("No logical date (a run started by a champion change): scoring the latest date %s", first)
    dates = [first + timedelta(days=i) for i in range(days)]
    choice = CHAMPION if selector is None or not str(selector).strip() else str(selector).strip()
    try:
        model = resolve_model(settings, choice, first, lakehouse)
    except NoModelError as exc:
        message = f"Skipping batch inference for {span(dates)}: {exc}"
        if record:
            row = {
                ENTITY_DATE: first,
                "outcome": "no_model",
                "message": message,
                "model_name": settings.mlflow.model_name,
            }
            record_run(lakehouse, row, run_id)
        raise NoModelError(message) from exc
    log.info(
        "Scoring %s with %s v%s (%s), pinned as %s", span(dates), model.name, model.version, model.source, model.uri
    )
    return {"date": first.isoformat(), "days": len(dates), **model.summary()}


def _latest_date(lakehouse: Lakehouse, settings: Settings) -> date:
    from mlops.inference.scoring_set import FeaturesNotReadyError
    from mlops.training import TrainingDataError, latest_entity_date

    try:
        return latest_entity_date(lakehouse, usecase_of(settings))
    except TrainingDataError as exc:
        raise FeaturesNotReadyError(str(exc)) from exc


def pinned(settings: Settings, version: Any) -> ScoringModel:
    """The version pinned by `pin_model`, from the registry (its run id).

    Raises:
        RegistryInputError: no version was pinned, or it does not exist.
    """
    from mlflow import MlflowClient

    from mlops.registry.transitions import RegistryInputError, get_version

    if version is None or not str(version).strip():
        raise RegistryInputError(
            "No model version was pinned for this run: the pinning step must run (and succeed) first"
        )
    mv = get_version(MlflowClient(tracking_uri=settings.mlflow.tracking_uri), settings.mlflow.model_name, version)
    return ScoringModel(mv.name, str(mv.version), mv.run_id, "pinned")


def stage_dates(
    spark: SparkFactory, lakehouse: Lakehouse, settings: Settings, dates: list[date], version: Any, run_id: str
) -> dict[str, Any]:
    """Stage each date's entities with point-in-time features in staging.scoring_set (Spark).

    Raises:
        FeaturesNotReadyError: the last date's features are not published yet (a retry may find them).
        NothingToDo: the pinned version already published every date (recorded `already_scored`), or the
            dates have no entities (recorded `empty`).
    """
    usecase, model = usecase_of(settings), pinned(settings, version)
    check_features_ready(lakehouse, usecase, dates[-1])
    base = {"model_name": model.name, "model_version": model.version}
    if all(already_published(lakehouse, day, model.version) for day in dates):
        message = f"{span(dates)} already scored by {model.name} v{model.version}: nothing to do"
        for day in dates:
            record_run(lakehouse, {ENTITY_DATE: day, **base, "outcome": "already_scored", "message": message}, run_id)
        raise NothingToDo(message)
    session, rows, staged = spark(), {}, None
    for day in dates:  # every date, so that the later steps see one staged partition per date of the run
        staged = build_scoring_set(session, lakehouse, settings, day)
        rows[day.isoformat()] = staged.rows
        log.info("Staged %d rows in %s for %s; PIT matches per table: %s", staged.rows, SCORING_SET, day, staged.pit)
    if not any(rows.values()):
        message = f"No {usecase.entity.noun}s on {span(dates)} in {usecase.entity.table}: nothing to score"
        for day in dates:
            record_run(lakehouse, {ENTITY_DATE: day, **base, "rows": 0, "outcome": "empty", "message": message}, run_id)
        raise NothingToDo(message + " (recorded in monitoring.inference_runs)")
    return staged.summary() if len(dates) == 1 else {"rows": sum(rows.values()), "rows_per_date": rows}


def score_dates(
    spark: SparkFactory,
    lakehouse: Lakehouse,
    settings: Settings,
    dates: list[date],
    version: Any,
    run_id: str,
    engine: str | None = None,
) -> dict[str, Any]:
    """Score the staged dates with the pinned version into staging.predictions.

    `engine`: spark or arrow; empty or `config` takes `inference.engine` (`auto`: arrow below
    `inference.spark_min_rows` rows). Returns {"engine", "rows", "seconds"} (and "dates" for several).

    Raises:
        UnknownEngineError, SignatureMismatchError (Refusal): nothing is written.
    """
    model, output = pinned(settings, version), prediction_output(usecase_of(settings))
    threshold, batch_rows = settings.inference.decision_threshold, settings.inference.batch_rows
    results = []
    for day in dates:
        rows = lakehouse.read(SCORING_SET, columns=[ENTITY_DATE], filters=[(ENTITY_DATE, "=", day)]).num_rows
        if rows == 0:
            log.info("No staged rows for %s: nothing to score", day)
            continue
        chosen = choose_engine(settings, rows) if not engine or engine == "config" else engine
        if chosen not in ENGINES:
            raise UnknownEngineError(f"Unknown scoring engine {chosen!r}; use one of {', '.join(ENGINES)}")
        log.info("Scoring %d rows of %s with %s v%s on the %s engine", rows, day, model.name, model.version, chosen)
        request = ScoreRequest(model, day, threshold, run_id, output, batch_rows)
        result = score(lakehouse, request, chosen, spark() if chosen == "spark" else None)
        log.info(
            "Scored %d rows in %.1fs (%.0f rows/s)",
            result.rows,
            result.seconds,
            result.rows / max(result.seconds, 1e-9),
        )
        results.append(result.summary())
    if len(results) == 1:
        return results[0]
    return {
        "engine": results[-1]["engine"] if results else None,
        "rows": sum(r["rows"] for r in results),
        "seconds": sum(r["seconds"] for r in results),
        "dates": len(results),
    }


def publish_outcome(published: Published) -> tuple[str, int, str]:
    """(outcome, rows, message) of one date's publish: `already_scored` only when neither table took rows.

    A publish interrupted between its two appends (gold.predictions committed, monitoring.inference_log
    not) is completed by the retry, which appends only the missing log rows: that date was `scored`,
    with the rows the log took.
    """
    predictions, log_rows = published.predictions, published.inference_log
    if predictions.skipped and log_rows.skipped:
        return "already_scored", 0, "already published"
    if predictions.skipped or log_rows.skipped:
        done, missing = (predictions, log_rows) if predictions.skipped else (log_rows, predictions)
        message = f"{missing.rows} rows appended to {missing.table}, completing a publish {done.table} already held"
        return "scored", missing.rows, message
    return "scored", predictions.rows, f"{predictions.rows} predictions appended"


def publish_dates(
    lakehouse: Lakehouse,
    settings: Settings,
    dates: list[date],
    version: Any,
    run_id: str,
    model_source: str | None = None,
    scored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append each date's validated predictions to gold.predictions and monitoring.inference_log, once per
    (date, version), and record the run in monitoring.inference_runs (`scored` or `already_scored`).

    `scored`: the scoring step's summary (engine, seconds), recorded beside the rows.
    """
    usecase, model, scored = usecase_of(settings), pinned(settings, version), scored or {}
    summaries = []
    for day in dates:
        published = publish(lakehouse, usecase, day, model.version)
        outcome, rows, message = publish_outcome(published)
        row = {
            ENTITY_DATE: day,
            "outcome": outcome,
            "message": message,
            "model_name": model.name,
            "model_version": model.version,
            "model_source": model_source or None,
            "engine": scored.get("engine"),
            "rows": rows,
            "seconds": scored.get("seconds"),
        }
        record_run(lakehouse, row, run_id)
        summaries.append({**published.summary(), "date": day.isoformat()})
        log.info("Published %s", summaries[-1])
    summary = {**summaries[-1], "model_name": model.name, "model_version": model.version}
    if len(summaries) > 1:
        summary["rows"] = sum(s.get("rows", 0) or 0 for s in summaries)
        summary["days"] = len(summaries)
    return summary
