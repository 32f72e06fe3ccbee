"""IngestLandingOperator: append the day's validated landing file to its bronze table, idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from mlops_airflow.common import emit_asset_metadata


class IngestLandingOperator(BaseOperator):
    """Read `landing/<dataset>/date=<day>/`, validate it, append to `bronze.<dataset>`.

    The write carries a Delta application transaction (`ingest/<dataset>/<day>`), so a retried or
    re-run task stores nothing twice. A bad file is quarantined and fails the task without retries.

    Args:
        dataset: landing dataset (flights, weather, planes), templated.
        day: data date, templated (default `{{ ds }}`).
    """

    template_fields: Sequence[str] = ("dataset", "day")
    ui_color = "#dae8fc"

    def __init__(self, *, dataset: str, day: str = "{{ ds }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.day = day

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.config import load_settings
        from mlops.ingestion import IngestionError, ingest_day
        from mlops.lakehouse import Lakehouse

        settings = load_settings()
        try:
            result = ingest_day(
                settings,
                Lakehouse.from_settings(settings),
                self.dataset,
                date.fromisoformat(self.day),
                context["run_id"],
            )
        except IngestionError as exc:
            raise AirflowFailException(str(exc)) from exc
        summary = result.summary()
        emit_asset_metadata(context, self.outlets, summary)
        self.log.info("Ingested %s for %s: %s", self.dataset, self.day, summary)
        return summary
