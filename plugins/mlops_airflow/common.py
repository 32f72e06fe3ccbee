"""Helpers shared by the operators: settings, Spark from an Airflow connection, asset-event metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pyspark.sql import SparkSession

    from mlops.config import Settings

log = logging.getLogger(__name__)

DEFAULT_SPARK_CONN_ID = "spark_default"
MAX_RUN_DAYS = 31


def days_param(description: str) -> Any:
    """The `days` DAG param (1..MAX_RUN_DAYS, default 1) of the DAGs whose runs may cover several dates."""
    from airflow.sdk import Param

    return Param(1, type="integer", minimum=1, maximum=MAX_RUN_DAYS, title="Days", description=description)


def run_days(first: Any, days: Any = 1) -> list[date]:
    """The data dates a run covers: `first` (a date or YYYY-MM-DD) and the `days - 1` dates after it.

    A daily run covers one date; a backfill or replay run covers up to MAX_RUN_DAYS at once, so
    per-run costs (task start, Spark session, one Spark job per table) are paid once for all of them.

    Raises:
        AirflowFailException: `first` is not a date or `days` is not an integer in 1..MAX_RUN_DAYS.
    """
    from airflow.sdk.exceptions import AirflowFailException

    try:
        start = first if isinstance(first, date) else date.fromisoformat(str(first).strip()[:10])
    except ValueError:
        raise AirflowFailException(f"A run's first data date must be YYYY-MM-DD, got {first!r}") from None
    count = run_day_count(days)
    return [start + timedelta(days=i) for i in range(count)]


def run_dates(first: Any, days: Any = 1, dates: Any = None) -> list[date]:
    """The dates a task covers: `dates` when given (a list of YYYY-MM-DD, e.g. the compute task's XCom with the
    stale dates it recomputed), else `run_days(first, days)`.

    Raises:
        AirflowFailException: a date is not YYYY-MM-DD, or `dates` is given but empty.
    """
    from airflow.sdk.exceptions import AirflowFailException

    if dates is None or dates == "":
        return run_days(first, days)
    values = [dates] if isinstance(dates, (str, date)) else list(dates)
    if not values:
        raise AirflowFailException("A task given explicit dates needs at least one, got an empty list")
    return sorted({run_days(value)[0] for value in values})


def run_day_count(days: Any) -> int:
    """How many data dates a run covers: `days` as an integer in 1..MAX_RUN_DAYS.

    Raises:
        AirflowFailException: `days` is not such an integer.
    """
    from airflow.sdk.exceptions import AirflowFailException

    try:
        count = int(str(days).strip())
    except ValueError:
        raise AirflowFailException(f"days must be an integer, got {days!r}") from None
    if not 1 <= count <= MAX_RUN_DAYS:
        raise AirflowFailException(f"days must be between 1 and {MAX_RUN_DAYS}, got {count}")
    return count


def spark_endpoint(conn_id: str | None) -> dict[str, str]:
    """`{"master": ...}` or `{"remote": ...}` from an Airflow connection; empty means local mode.

    A connection whose host starts with `sc://` is a Spark Connect server; anything else
    (`spark://`, `yarn`, `k8s://`, `local[4]`) is a master URL. A missing connection means local.
    """
    if not conn_id:
        return {}
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("No Airflow connection %r: Spark runs in local mode", conn_id)
        return {}
    host = conn.host or ""
    if conn.port and "://" in host and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    if not host:
        return {}
    return {"remote": host} if host.startswith("sc://") else {"master": host}


def spark_for_task(settings: Settings, conn_id: str | None, app_name: str) -> SparkSession:
    """The task's SparkSession (created in execute, never at import)."""
    from mlops.spark import get_spark

    return get_spark(settings, app_name=app_name, **spark_endpoint(conn_id))


def emit_asset_metadata(context: Context, outlets: Iterable[Any], summary: Mapping[str, Any]) -> None:
    """Attach the write summary (table, version, rows) to every outlet asset's event."""
    events = context["outlet_events"]
    for asset in outlets:
        events[asset].extra.update({k: v for k, v in summary.items() if _json_scalar(v)})


def _json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
