"""IngestLandingOperator: append the day's validated landing file to its bronze table, idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import emit_asset_metadata, run_days
from mlops_airflow.hooks import UseCaseOperator, task_outcome


class IngestLandingOperator(UseCaseOperator):
    """Read `landing/<dataset>/date=<day>/`, validate it, append to `bronze.<dataset>`.

    The write carries a Delta application transaction (`ingest/<dataset>/<day>`), so a retried or
    re-run task stores nothing twice. A bad file is quarantined and fails the task without retries.

    Args:
        dataset: one of the use case's landing datasets, templated.
        day: data date, templated (default `{{ ds }}`).
        days: how many data dates from `day` the run covers (templated; default 1), ingested in order,
            each with its own application transaction.
    """

    template_fields: Sequence[str] = ("dataset", "day", "days")
    ui_color = "#dae8fc"

    def __init__(self, *, dataset: str, day: str = "{{ ds }}", days: str | int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.day = day
        self.days = days

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.ingestion import ingest_dates

        dates = run_days(self.day, self.days)
        summary = ingest_dates(self.hook.settings, self.hook.lakehouse, self.dataset, dates, context["run_id"])
        emit_asset_metadata(context, self.outlets, summary)
        return summary
