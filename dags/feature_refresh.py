"""
# feature_refresh

Daily refresh of the lakehouse for one **data date** (the run's logical date, `ds`):

0. **check_code** - runs every feature job and the label rule of the use case over empty bronze
   tables of exactly the declared landing schemas (Spark analysis only, seconds): a job that reads a
   column no contract declares, or returns other columns or types than its feature table's catalog,
   fails the run before anything is written, naming the use case, the job and the column. The same
   check runs by hand: `python -m mlops.usecase.check <use case> --env <env>`.
1. **wait_for_landing** - a deferrable sensor (waits in the triggerer) for
   `landing/<use case>/<dataset>/date=<ds>/<dataset>.csv` of each of the use case's datasets to be
   complete: its done marker `<dataset>.csv.done` exists, or it is unchanged for
   `quality.landing_stable_seconds` (a growing file is waited for). After
   `quality.landing_timeout_minutes` it fails, naming the missing or still growing path.
2. **validate_raw_<dataset>** - Great Expectations suite of the raw file (columns and types,
   non-null unique keys and required columns, ranges, allowed values and patterns, string lengths,
   dates inside the day, rows > 0) and the contract's rules across columns and deliveries (local
   hour, row count within the band of the last days in bronze), all from the use case's landing
   contract. Cells are null only in the column's declared spellings (`nan` in a number is refused).
   A bad file, or a directory or dangling link at the landing path, is moved to `landing/_quarantine/`
   and recorded in `quarantine.landing_files`; the message names the file and the column or rule.
   A run over several days validates their files as one batch first, and one by one only if it fails.
3. **ingest_<dataset>** - appends the file to `bronze.<dataset>` with a Delta application
   transaction `ingest/<dataset>/<ds>` and records it in `audit.landing_deliveries` (content hash):
   a retry or re-run with the same content stores nothing twice. A re-landed file with other content
   is a **correction**: it replaces that date's bronze partition in one commit, the old delivery is
   marked superseded, and the published feature dates computed from it are recorded in
   `audit.stale_feature_dates`.
4. **features.<table>** task groups - `compute` the day's rows of each feature table with Spark
   into `staging.<table>`, plus the table's stale dates up to the run's last date, `validate` them
   (nulls, ranges, key uniqueness, freshness, row count vs the previous day; mode `fail` or
   `quarantine` from config), then `publish` (MERGE on entity + feature timestamp into
   `features.<table>`, replacing a date whose keys vanished; emits the table's Asset) and clear the
   stale marks it recomputed.

**Reads** landing files, `bronze.*`. **Writes** `bronze.<dataset>`,
`staging.*`, `features.*`, `quarantine.*`, and gate results + Data Docs under
`<reports root>/_quality/` (`lakehouse.reports_root`, default the lakehouse root).

**Run by hand:** trigger with a logical date (the data date), or
`airflow dags test <use case>.feature_refresh 2013-01-05`. Backfill a range with
`airflow backfill create --dag-id <use case>.feature_refresh --from-date 2013-01-01 --to-date 2013-01-31`
(one run per day), or in fewer, bigger runs with the **days** param: a run with logical date D and
`days` N covers D .. D+N-1 (up to 31): each date's file is validated and ingested on its own, each
feature table is computed for all N dates in one Spark job and staged in one commit, then each date
is validated and published. The tables end up exactly as after N daily runs. To re-process a range
after corrected files were re-landed, outside Airflow:
`python -m mlops.reprocess --usecase <use case> --env <env> --start 2013-01-01 --end 2013-01-31`
(see docs/pipelines.md, "Corrections").

**When it fails:** `check_code` names the job and the column or type on which its code and its contracts
disagree: fix the job or declare the column, then clear the task. A gate failure names the table, column
and expectation, and links the Data Docs in the task log; fix the data (or the suite) and clear the failed
task. A landing timeout means the upstream file is late: clear `wait_for_landing` once it is there.
`LandingFileIncomplete` means the file changed while it was read: the task retries by itself, nothing was
written or quarantined.
"""

from __future__ import annotations

from airflow.sdk import TaskGroup

from mlops.features.catalog import feature_docs_markdown
from mlops.usecase import usecase_of
from mlops_airflow.assets import table_asset
from mlops_airflow.common import days_param
from mlops_airflow.operators.features import (
    CheckUseCaseCodeOperator,
    ComputeFeaturesOperator,
    PublishFeaturesOperator,
)
from mlops_airflow.operators.ingest import IngestLandingOperator
from mlops_airflow.operators.quality import QualityGateOperator
from mlops_airflow.scheduling import (
    data_interval_schedule,
    usecase_dag,
    usecase_settings,
)
from mlops_airflow.sensors.landing_sensor import LandingFileSensor

DAYS = "{{ params.days }}"


def build(settings):
    """The feature_refresh DAG of one use case."""
    usecase = usecase_of(settings)
    datasets, catalog = usecase.dataset_names, feature_docs_markdown(usecase.features.tables)

    @usecase_dag(
        settings,
        "feature_refresh",
        f"{__doc__}\n## Feature catalog\n\n{catalog}\n",
        tags=["features", "ingestion"],
        schedule=data_interval_schedule(settings.schedules.feature_refresh),
        params={
            "days": days_param(
                "How many data dates, from the logical date, this run covers (a backfill in fewer runs)."
            ),
        },
    )
    def feature_refresh():
        _wire(usecase, datasets)

    return feature_refresh()


def _wire(usecase, datasets):
    checked = CheckUseCaseCodeOperator(task_id="check_code")
    landed = LandingFileSensor.partial(task_id="wait_for_landing", days=DAYS, retries=0, usecase=usecase.name).expand(
        dataset=list(datasets)
    )
    checked >> landed
    ingested = []
    for dataset in datasets:
        validated = QualityGateOperator(task_id=f"validate_raw_{dataset}", gate="landing", target=dataset, days=DAYS)
        bronze = table_asset(usecase.name, usecase.dataset(dataset).bronze_table)
        ingest = IngestLandingOperator(task_id=f"ingest_{dataset}", dataset=dataset, days=DAYS, outlets=[bronze])
        landed >> validated >> ingest
        ingested.append(ingest)
    for spec in usecase.features.tables:
        with TaskGroup(group_id=spec.short_name, tooltip=spec.description) as group:
            compute = ComputeFeaturesOperator(task_id="compute", table=spec.name, days=DAYS, multiple_outputs=True)
            dates = compute.output["dates"]  # the run's dates plus the stale dates it recomputed
            validate = QualityGateOperator(
                task_id="validate", gate="features", target=spec.name, days=DAYS, dates=dates
            )
            publish = PublishFeaturesOperator(
                task_id="publish",
                table=spec.name,
                days=DAYS,
                dates=dates,
                stale_as_of=compute.output["stale_as_of"],
                outlets=[table_asset(usecase.name, spec.name)],
                doc_md=f"MERGE the day's validated rows into `{spec.name}` on {', '.join(spec.keys)}. "
                f"{spec.description}",
            )
            compute >> validate >> publish
        ingested >> group


for _settings in usecase_settings():
    build(_settings)
