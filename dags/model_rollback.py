"""
# model_rollback

Moves the `champion` alias back to an earlier version, with an audit row in `monitoring.cd_decisions`.

**Triggers.** Manual only: *Trigger DAG w/ config* with `version` (empty: the `previous_champion`).
The target must have passed compliance and never been rejected. The demoted version keeps
`previous_champion` (roll forward by rolling back again). Emits asset `mlflow.models.<model_name>.champion`
so `batch_inference` picks the change up.

**When it fails:** the message names the refused target (rejected, unknown, already champion); pick
another version. MLflow errors retry with backoff.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag

from mlops_airflow.assets import champion_asset
from mlops_airflow.operators.registry import RollbackModelOperator
from mlops_airflow.scheduling import DEFAULT_ARGS, dag_settings

SETTINGS = dag_settings()


@dag(
    schedule=None,
    start_date=datetime(2013, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mlops", "cd"],
    doc_md=__doc__,
    params={
        "version": Param(
            None, type=["null", "string"], title="Version", description="Empty: the previous_champion alias."
        )
    },
)
def model_rollback():
    RollbackModelOperator(
        task_id="rollback_champion",
        version="{{ params.version or '' }}",
        outlets=[champion_asset(SETTINGS.mlflow.model_name)],
    )


model_rollback()
