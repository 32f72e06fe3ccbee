"""
# table_maintenance

Housekeeping of every Delta table of the use case: staging trimmed, small files compacted, files no
version inside the retention window needs deleted. Time travel inside the window keeps working.

**Triggers.** `schedules.table_maintenance` (default weekly; null: manual only). By hand: *Trigger DAG*
(no params); it is safe to re-run, and a run with nothing to do commits nothing.

**Reads and writes.** Every table under the use case's lakehouse root (`<root>/<use case>/<layer>/<table>`):
1. `staging.*`: partitions of the table's date partition column more than `maintenance.staging_retention_days`
   before its newest staged date are deleted (a new Delta version: the rows stay readable at earlier
   versions until vacuum). The window counts on the data clock, so a replay keeps its recent staged days.
   A staging table without a date partition column is left whole (a warning in the log).
2. Every table: small files of a partition are compacted into larger ones (`maintenance.compact`; a new
   version with the same rows).
3. Every table: vacuum deletes the files a commit removed more than `maintenance.vacuum_retention_hours`
   ago (or the table's own `delta.deletedFileRetentionDuration`, if longer). A version committed inside
   the window, and the version current at its start, keep every file they need; files removed by this
   run's own delete and compaction go one window later. Model lineage records table versions: reading a
   training set back at them works inside the window only. Files written by a writer that never committed
   are not touched.

Each commit carries the Airflow run id (`airflow_run_id` in the table history). No asset events: the
published data does not change. The task log has one line per table (versions, rows deleted, files
compacted and vacuumed) and the totals, which also go to XCom.

**When it fails:** a lost commit race with a concurrent writer (optimize or delete against a write to
the same partition) is retried by Airflow, and the retry redoes only what is left. A table whose
`delta.deletedFileRetentionDuration` is not `interval <n> <unit>` fails without retries naming the table:
fix the property. Do not run it while a backfill stages dates older than the staging window: it may
delete a staged date before its publish step reads it (re-run the backfill's stage task).
"""

from __future__ import annotations

from mlops_airflow.operators.housekeeping import MaintainTablesOperator
from mlops_airflow.scheduling import data_interval_schedule, usecase_dag, usecase_settings


def build(settings):
    """The table_maintenance DAG of one use case."""

    @usecase_dag(
        settings,
        "table_maintenance",
        __doc__,
        tags=["maintenance"],
        schedule=data_interval_schedule(settings.schedules.table_maintenance),
    )
    def table_maintenance():
        MaintainTablesOperator(
            task_id="maintain_tables",
            doc_md="Trim staging, compact and vacuum every table; one log line per table.",
        )

    return table_maintenance()


for _settings in usecase_settings():
    build(_settings)
