"""Named pipeline jobs: the entry points that Airflow operators (and plain Python) run by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse, WriteResult


@dataclass(frozen=True)
class JobContext:
    """What every job receives: environment, tables, the data dates and the caller's run identity.

    A run covers the data dates `day` .. `last` (one day when `last` is None).
    """

    settings: Settings
    lakehouse: Lakehouse
    day: date
    run_id: str
    spark: SparkSession | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    last: date | None = None

    @property
    def days(self) -> list[date]:
        """Every data date of the run, in order."""
        last = self.last or self.day
        if last < self.day:
            raise ValueError(f"A run's last data date {last} is before its first {self.day}")
        return [self.day + timedelta(days=i) for i in range((last - self.day).days + 1)]


@dataclass(frozen=True)
class Job:
    """A named job: whether it needs Spark, and the function that runs it."""

    name: str
    needs_spark: bool
    run: Callable[..., WriteResult]
    description: str


def _stage_features(ctx: JobContext, *, table: str) -> WriteResult:
    from mlops.features.jobs import stage_feature_table

    return stage_feature_table(ctx.spark, ctx.lakehouse, ctx.settings, table, ctx.day, ctx.last)


def _publish_features(ctx: JobContext, *, table: str) -> WriteResult:
    from mlops.features.jobs import publish_feature_table
    from mlops.lakehouse import WriteResult
    from mlops.usecase import usecase_of

    spec = usecase_of(ctx.settings).features.table(table)
    results = [publish_feature_table(ctx.spark, ctx.lakehouse, spec, day) for day in ctx.days]
    if len(results) == 1:
        return results[0]
    written = [r for r in results if not r.skipped]
    rows = sum(r.rows for r in results)
    return WriteResult(results[-1].table, results[-1].version, rows, results[-1].operation, skipped=not written)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("stage_features", True, _stage_features, "Compute one feature table for the day into staging"),
        Job("publish_features", False, _publish_features, "Merge the day's validated staged features"),
    )
}


def get_job(name: str) -> Job:
    """The job called `name`; KeyError lists the known jobs."""
    try:
        return JOBS[name]
    except KeyError:
        raise KeyError(f"Unknown job {name!r}; known jobs: {', '.join(sorted(JOBS))}") from None


def run_job(name: str, ctx: JobContext, **kwargs: Any) -> WriteResult:
    """Run a named job; a Spark job without a session is refused before any work starts."""
    job = get_job(name)
    if job.needs_spark and ctx.spark is None:
        raise ValueError(f"Job {name!r} needs a SparkSession; pass one in JobContext.spark")
    return job.run(ctx, **kwargs)
