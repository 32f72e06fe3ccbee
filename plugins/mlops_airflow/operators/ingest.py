"""IngestLandingOperator: append the day's validated landing file to its bronze table, idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from mlops_airflow.common import emit_asset_metadata, run_days
from mlops_airflow.hooks import UseCaseOperator


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

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.ingestion import IngestionError, ingest_day

        settings = self.hook.settings
        lakehouse = self.hook.lakehouse
        results = []
        for day in run_days(self.day, self.days):
            try:
                results.append(ingest_day(settings, lakehouse, self.dataset, day, context["run_id"]))
            except IngestionError as exc:
                raise AirflowFailException(str(exc)) from exc
            self.log.info("Ingested %s for %s: %s", self.dataset, day, results[-1].summary())
        summary = results[-1].summary()
        if len(results) > 1:
            rows, skipped = sum(r.rows for r in results), all(r.skipped for r in results)
            summary = {**summary, "days": len(results), "rows": rows, "skipped": skipped}
        emit_asset_metadata(context, self.outlets, summary)
        return summary
