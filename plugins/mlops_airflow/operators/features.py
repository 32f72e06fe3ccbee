"""Feature-refresh operators: compute a feature table into staging (Spark), publish the validated rows.

Spark runs in local mode unless the Airflow connection `spark_conn_id` names a cluster master
(`spark://...`) or a Spark Connect server (`sc://...`). Each returns the write summary (table,
version, rows), which also goes to the metadata of every outlet asset's event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata, run_days
from mlops_airflow.hooks import UseCaseOperator, task_outcome


class _FeatureTableOperator(UseCaseOperator):
    template_fields: Sequence[str] = ("table", "day", "days")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        table: str,
        day: str = "{{ ds }}",
        days: str | int = 1,
        spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table, self.day, self.days, self.spark_conn_id = table, day, days, spark_conn_id

    def _report(self, context: Context, summary: dict[str, Any]) -> dict[str, Any]:
        emit_asset_metadata(context, self.outlets, summary)
        self.log.info("%s: %s", self.table, summary)
        return summary


class ComputeFeaturesOperator(_FeatureTableOperator):
    """Compute feature table `table` for the run's dates (one Spark job) into `staging.<table>`, replacing
    those dates' partitions atomically."""

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.features.refresh import stage_feature_table

        dates = run_days(self.day, self.days)
        self.log.info("Computing %s for %s..%s (%d days)", self.table, dates[0], dates[-1], len(dates))
        hook = self.hook
        result = stage_feature_table(self.spark(), hook.lakehouse, hook.settings, self.table, dates[0], dates[-1])
        return self._report(context, result.summary())


class PublishFeaturesOperator(_FeatureTableOperator):
    """Merge each date's validated staged rows into feature table `table` on its keys (idempotent by content:
    an unchanged date writes nothing)."""

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.features.refresh import publish_feature_dates

        dates = run_days(self.day, self.days)
        result = publish_feature_dates(self.hook.lakehouse, self.hook.settings, self.table, dates)
        return self._report(context, result.summary())
