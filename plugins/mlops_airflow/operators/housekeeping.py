"""Housekeeping operator: trim staging, compact and vacuum every Delta table of a use case."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from mlops_airflow.hooks import UseCaseOperator, task_outcome


class MaintainTablesOperator(UseCaseOperator):
    """Maintain every table of the use case's lakehouse (`mlops.maintenance.maintain_tables`).

    Staged rows older than `maintenance.staging_retention_days` (counted back from each staging table's
    newest date) are deleted, small files compacted, and files removed more than
    `maintenance.vacuum_retention_hours` ago vacuumed. One log line per table with its figures; returns
    the totals. No table yet: skipped. A table property it cannot read fails without retries.
    """

    ui_color = "#d9d9d9"

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.maintenance import maintain_tables

        report = maintain_tables(self.hook.lakehouse, self.hook.settings, run_id=context["run_id"])
        return report.summary()
