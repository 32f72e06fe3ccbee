"""Schedules from the environment config, as Airflow timetables whose logical date is the data date."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from airflow.sdk import CronDataIntervalTimetable

if TYPE_CHECKING:
    from mlops.config import Settings

log = logging.getLogger(__name__)
# The earliest data date any DAG run may have, for every use case (a run whose logical date is before its
# DAG's start_date runs no task at all). Well before any use case's data; no DAG catches up, so it never
# creates runs by itself.
START_DATE = datetime(2000, 1, 1)

# Transient errors (a busy server, a network blip) get two retries; bad data fails without retry
# (operators raise AirflowFailException for it).
DEFAULT_ARGS = {
    "owner": "ml-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "depends_on_past": False,
}


def usecase_problems() -> list[str]:
    """One message per enabled use case that fails to load (naming the use case and the field)."""
    from mlops.config import enabled_usecases, load_settings

    problems = []
    for name in enabled_usecases():
        try:
            load_settings(usecase=name)
        except ValueError as exc:  # ConfigError or UseCaseError
            problems.append(str(exc))
    return problems


@lru_cache(maxsize=1)
def usecase_settings() -> tuple[Settings, ...]:
    """Settings of every enabled use case that loads, read once per parse process (small YAML files).

    A use case that fails to load is logged and left out, so the other use cases' DAGs still parse;
    `dags/usecase_check.py` reports it as a DAG import error naming the use case and the field.
    """
    from mlops.config import enabled_usecases, load_settings

    loaded = []
    for name in enabled_usecases():
        try:
            loaded.append(load_settings(usecase=name))
        except ValueError as exc:  # ConfigError or UseCaseError: the message names the use case and field
            log.error("Use case %s not loaded, its DAGs are left out: %s", name, exc)
    return tuple(loaded)


def dag_id(settings: Settings, pipeline: str) -> str:
    """`<use case>.<pipeline>`, e.g. `churn.feature_refresh`."""
    return f"{settings.usecase}.{pipeline}"


def usecase_args(settings: Settings) -> dict[str, object]:
    """DEFAULT_ARGS plus the use case every platform operator of the DAG works for."""
    return {**DEFAULT_ARGS, "usecase": settings.usecase}


def data_interval_schedule(cron: str | None) -> CronDataIntervalTimetable | None:
    """A cron schedule whose run for day D has logical date D and starts once D is over (UTC)."""
    return CronDataIntervalTimetable(cron, timezone="UTC") if cron else None


def usecase_doc(settings: Settings) -> str:
    """A markdown section on the DAG's use case, appended to every DAG's doc_md."""
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    entity, labels, model = usecase.entity, usecase.labels, usecase.model
    datasets = ", ".join(f"`{d.name}`" for d in usecase.datasets)
    return (
        f"\n## Use case `{usecase.name}`\n\n{usecase.description}\n\n"
        f"- **Entity:** one {entity.noun} per ({', '.join(entity.keys)}), from `{entity.table}`; "
        f"prediction time: {entity.prediction_time_rule or entity.time_column}\n"
        f"- **Datasets:** {datasets} (landing `{settings.lakehouse.landing_root}`)\n"
        f"- **Label:** `{labels.column}`: {labels.description} Known {labels.lag_days} day(s) after the entity date.\n"
        f"- **Model:** {model.task}; business baseline: {model.baseline_description}\n"
        f"- **MLflow:** experiment `{settings.mlflow.experiment_name}`, model `{settings.mlflow.model_name}`\n"
        f"- **Tables:** `{settings.lakehouse.root}`\n"
    )


def usecase_dag(settings: Settings, pipeline: str, doc_md: str, *, tags: list[str], **kwargs: Any) -> Any:
    """The `@dag` decorator of one pipeline of one use case: its id, tags, docs and the settings every
    pipeline shares (start date, no catchup, one active run, the use case in default_args)."""
    from airflow.sdk import dag

    kwargs.setdefault("default_args", usecase_args(settings))
    return dag(
        dag_id=dag_id(settings, pipeline),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["mlops", *tags, str(settings.usecase)],
        doc_md=doc_md + usecase_doc(settings),
        **kwargs,
    )
