"""
# feature_refresh

Daily refresh of the lakehouse for one **data date** (the run's logical date, `ds`):

1. **wait_for_landing** - a deferrable sensor (waits in the triggerer) for
   `landing/<dataset>/date=<ds>/<dataset>.csv` of flights, weather and planes. After
   `quality.landing_timeout_minutes` it fails, naming the missing path.
2. **validate_raw_<dataset>** - Great Expectations suite of the raw file (columns and types,
   non-null unique keys, ranges, known airports and carriers, dates inside the day, rows > 0).
   A bad file is moved to `landing/_quarantine/` and recorded in `quarantine.landing_files`.
3. **ingest_<dataset>** - appends the file to `bronze.<dataset>` with a Delta application
   transaction `ingest/<dataset>/<ds>`: a retry or re-run stores nothing twice.
4. **features.<table>** task groups - `compute` the day's rows of each feature table with Spark
   into `staging.<table>`, `validate` them (nulls, ranges, key uniqueness, freshness, row count
   vs the previous day; mode `fail` or `quarantine` from config), then `publish` (MERGE on
   entity + feature timestamp into `features.<table>`, which emits the table's Asset).

**Reads** landing files, `bronze.*`. **Writes** `bronze.flights|weather|planes`,
`staging.*`, `features.*`, `quarantine.*`, and gate results + Data Docs under
`<reports root>/_quality/` (`lakehouse.reports_root`, default the lakehouse root).

**Run by hand:** trigger with a logical date (the data date), or
`airflow dags test feature_refresh 2013-01-05`. Backfill a range with
`airflow backfill create --dag-id feature_refresh --from-date 2013-01-01 --to-date 2013-01-31`
(one run per day), or in fewer, bigger runs with the **days** param: a run with logical date D and
`days` N covers D .. D+N-1 (up to 31): each date's file is validated and ingested on its own, each
feature table is computed for all N dates in one Spark job and staged in one commit, then each date
is validated and published. The tables end up exactly as after N daily runs.

**When it fails:** a gate failure names the table, column and expectation, and links the Data
Docs in the task log; fix the data (or the suite) and clear the failed task. A landing timeout
means the upstream file is late: clear `wait_for_landing` once it is there.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import TaskGroup, dag

from mlops.features.registry import FEATURE_TABLES, feature_docs_markdown
from mlops_airflow.assets import BRONZE_ASSETS, table_asset
from mlops_airflow.common import days_param
from mlops_airflow.operators.ingest import IngestLandingOperator
from mlops_airflow.operators.quality import QualityGateOperator
from mlops_airflow.operators.spark_job import SparkDeltaJobOperator
from mlops_airflow.scheduling import DEFAULT_ARGS, dag_settings, data_interval_schedule
from mlops_airflow.sensors.landing import LandingFileSensor

DATASETS = ("flights", "weather", "planes")
DAYS = "{{ params.days }}"


@dag(
    schedule=data_interval_schedule(dag_settings().schedules.feature_refresh),
    start_date=datetime(2013, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mlops", "features", "ingestion"],
    doc_md=f"{__doc__}\n## Feature registry\n\n{feature_docs_markdown()}\n",
    params={
        "days": days_param("How many data dates, from the logical date, this run covers (a backfill in fewer runs)."),
    },
)
def feature_refresh():
    landed = LandingFileSensor.partial(task_id="wait_for_landing", days=DAYS, retries=0).expand(dataset=list(DATASETS))
    ingested = []
    for dataset in DATASETS:
        validated = QualityGateOperator(task_id=f"validate_raw_{dataset}", gate="landing", target=dataset, days=DAYS)
        ingest = IngestLandingOperator(
            task_id=f"ingest_{dataset}", dataset=dataset, days=DAYS, outlets=[BRONZE_ASSETS[dataset]]
        )
        landed >> validated >> ingest
        ingested.append(ingest)
    for spec in FEATURE_TABLES:
        with TaskGroup(group_id=spec.short_name, tooltip=spec.description) as group:
            compute = SparkDeltaJobOperator(
                task_id="compute", job="stage_features", job_kwargs={"table": spec.name}, days=DAYS
            )
            validate = QualityGateOperator(task_id="validate", gate="features", target=spec.name, days=DAYS)
            publish = SparkDeltaJobOperator(
                task_id="publish",
                job="publish_features",
                job_kwargs={"table": spec.name},
                days=DAYS,
                outlets=[table_asset(spec.name)],
                doc_md=f"MERGE the day's validated rows into `{spec.name}` on {', '.join(spec.keys)}. "
                f"{spec.description}",
            )
            compute >> validate >> publish
        ingested >> group


feature_refresh()
