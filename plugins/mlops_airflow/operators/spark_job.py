"""SparkDeltaJobOperator: run a named core job with a SparkSession and write through the lakehouse."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata, run_days, spark_for_task
from mlops_airflow.hooks import UseCaseOperator


class SparkDeltaJobOperator(UseCaseOperator):
    """Run job `job` of `mlops.jobs` for the data date, then report what it wrote.

    Spark runs in local mode unless the Airflow connection `spark_conn_id` names a cluster master
    (`spark://...`) or a Spark Connect server (`sc://...`). The returned summary (table, version,
    rows) goes to XCom and to the metadata of every outlet asset's event.

    Args:
        job: name of a job in `mlops.jobs.JOBS`.
        job_kwargs: keyword arguments for the job (templated).
        day: data date, templated (default `{{ ds }}`).
        days: how many data dates from `day` the run covers (templated; default 1).
        spark_conn_id: Airflow connection of the Spark cluster; absent means local mode.
    """

    template_fields: Sequence[str] = ("job", "job_kwargs", "day", "days")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        job: str,
        job_kwargs: dict[str, Any] | None = None,
        day: str = "{{ ds }}",
        days: str | int = 1,
        spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.job_kwargs = job_kwargs or {}
        self.day = day
        self.days = days
        self.spark_conn_id = spark_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.jobs import JobContext, get_job, run_job

        settings = self.hook.settings
        dates = run_days(self.day, self.days)
        job = get_job(self.job)
        spark = None
        if job.needs_spark:
            spark = spark_for_task(settings, self.spark_conn_id, f"{self.dag_id}.{self.task_id}")
        ctx = JobContext(
            settings=settings,
            lakehouse=self.hook.lakehouse,
            day=dates[0],
            run_id=context["run_id"],
            spark=spark,
            last=dates[-1],
        )
        span = f"{ctx.day}" if len(dates) == 1 else f"{ctx.day}..{ctx.last} ({len(dates)} days)"
        self.log.info("Running job %s(%s) for %s in env %s", job.name, self.job_kwargs, span, settings.env)
        result = run_job(job.name, ctx, **self.job_kwargs)
        summary = result.summary()
        emit_asset_metadata(context, self.outlets, summary)
        self.log.info("Job %s done: %s", job.name, summary)
        return summary
