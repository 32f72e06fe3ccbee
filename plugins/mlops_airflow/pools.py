"""Airflow pools of the platform: one slot per registered model, so registry-writing tasks run one at a time.

Every task that writes a model's registry state (compliance, comparison, approval, promotion, rollback) runs
in that model's pool, on whichever worker or host, so two DAG runs never interleave their transitions of one
model; the registry lock in `mlops.registry.lock` covers callers outside Airflow. Tasks in Airflow 3 cannot
write the metadata DB, so the setup steps create the pools after `airflow db migrate`:
`python -m mlops_airflow.pools` in scripts/run.sh, scripts/ui.sh, the airflow-init service of
docker-compose.yaml and the tests' Airflow DB fixture. A task whose pool is missing is never scheduled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mlops.config import Settings

REGISTRY_POOL_PREFIX = "mlflow_registry."


def registry_pool(model_name: str) -> str:
    """The pool of the registered model's registry-writing tasks, e.g. `mlflow_registry.<model name>`."""
    if not model_name:
        raise ValueError(f"A registry pool needs a model name, got {model_name!r}")
    return f"{REGISTRY_POOL_PREFIX}{model_name}"


def required_pools(settings: Iterable[Settings]) -> dict[str, str]:
    """Pool name -> description, one per registered model the use cases deploy."""
    return {
        registry_pool(s.mlflow.model_name): f"Registry transitions of MLflow model {s.mlflow.model_name} "
        f"(use case {s.usecase}): one at a time (mlops_airflow.pools)"
        for s in settings
    }


def create_pools() -> dict[str, str]:
    """Create or update (to one slot) the pools of every enabled use case; deferred tasks take no slot."""
    from airflow.models.pool import Pool

    from mlops_airflow.scheduling import usecase_settings

    pools = required_pools(usecase_settings())
    for name, description in pools.items():
        Pool.create_or_update_pool(name, 1, description, include_deferred=False)
    return pools


if __name__ == "__main__":
    for _name in create_pools():
        print(f"Airflow pool {_name}: 1 slot")
