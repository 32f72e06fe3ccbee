"""Feature-refresh operators: compute a feature table into staging (Spark), publish the validated rows.

Spark runs in local mode unless the Airflow connection `spark_conn_id` names a cluster master
(`spark://...`) or a Spark Connect server (`sc://...`). Each returns the write summary (table,
version, rows), which also goes to the metadata of every outlet asset's event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata, run_dates, run_days
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


class CheckUseCaseCodeOperator(UseCaseOperator):
    """Dry-run the use case's feature jobs and label rule over empty bronze tables of its declared schemas
    (`mlops.usecase.schema_check`): a job that reads a column no landing contract declares, or returns other
    columns than its catalog, fails the run before anything is written, naming the use case and the job."""

    ui_color = "#fde9d9"

    def __init__(self, *, spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spark_conn_id = spark_conn_id

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.usecase.schema_check import dry_run_usecase

        hook = self.hook
        return dry_run_usecase(self.spark(), hook.usecase, hook.settings).summary()


class ComputeFeaturesOperator(_FeatureTableOperator):
    """Compute feature table `table` for the run's dates, and the table's stale dates up to the last of them
    (bronze days corrected since they were published), into `staging.<table>`, replacing those dates'
    partitions atomically. Its summary's `dates` and `stale_as_of` feed validate and publish (use
    `multiple_outputs=True`)."""

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.features.refresh import stage_feature_run

        dates = run_days(self.day, self.days)
        self.log.info("Computing %s for %s..%s (%d days)", self.table, dates[0], dates[-1], len(dates))
        hook = self.hook
        staged = stage_feature_run(self.spark(), hook.lakehouse, hook.settings, self.table, dates[0], dates[-1])
        return self._report(context, staged.summary())


class PublishFeaturesOperator(_FeatureTableOperator):
    """Merge each date's validated staged rows into feature table `table` on its keys (idempotent by content:
    an unchanged date writes nothing; a date whose keys vanished is replaced), then clear the stale marks
    the compute task covered.

    Args:
        dates: the dates to publish (templated; the compute task's `dates` XCom); default the run's dates.
        stale_as_of: the compute task's `stale_as_of` XCom: stale marks made before it are cleared.
    """

    template_fields: Sequence[str] = (*_FeatureTableOperator.template_fields, "dates", "stale_as_of")

    def __init__(self, *, dates: Any = None, stale_as_of: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dates, self.stale_as_of = dates, stale_as_of

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.features.refresh import publish_feature_dates

        dates, hook = run_dates(self.day, self.days, self.dates), self.hook
        as_of, run_id = self.stale_as_of or None, context["run_id"]
        result = publish_feature_dates(
            hook.lakehouse, hook.settings, self.table, dates, stale_as_of=as_of, run_id=run_id
        )
        return self._report(context, result.summary())
