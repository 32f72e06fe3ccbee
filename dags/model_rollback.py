"""
# model_rollback

Moves the `champion` alias back to an earlier version, with an audit row in `monitoring.cd_decisions`.

**Triggers.** Manual only: *Trigger DAG w/ config* with `version` (empty: the `previous_champion`).
The target must have passed compliance and never been rejected. The demoted version keeps
`previous_champion` (roll forward by rolling back again). Emits asset `mlflow.models.<model_name>.champion`
so `batch_inference` picks the change up.

Runs in the model's one-slot pool `mlflow_registry.<model_name>`, like `model_promotion`'s registry steps.
A retry of a failed rollback finishes that rollback (it does not roll back a second time).

**When it fails:** the message names the refused target (rejected, unknown, already champion); pick
another version. MLflow errors retry with backoff.
"""

from __future__ import annotations

from airflow.sdk import Param

from mlops_airflow.assets import champion_asset
from mlops_airflow.operators.registry import RollbackModelOperator
from mlops_airflow.pools import registry_pool
from mlops_airflow.scheduling import usecase_dag, usecase_settings


def build(settings):
    """The model_rollback DAG of one use case."""

    @usecase_dag(
        settings,
        "model_rollback",
        __doc__,
        tags=["cd"],
        schedule=None,
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
            outlets=[champion_asset(settings.mlflow.model_name)],
            pool=registry_pool(settings.mlflow.model_name),  # one registry writer per model (mlops_airflow.pools)
        )

    return model_rollback()


for _settings in usecase_settings():
    build(_settings)
