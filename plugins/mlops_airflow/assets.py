"""Airflow Assets of the lakehouse tables and the model registry, one constant per thing."""

from __future__ import annotations

from airflow.sdk import Asset


def table_asset(usecase: str, table: str) -> Asset:
    """The Asset of a use case's lakehouse table `<layer>.<table>` (same name in every environment's Airflow)."""
    layer, name = table.split(".", 1)
    return Asset(name=f"{usecase}.{table}", uri=f"lakehouse://{usecase}/{layer}/{name}", group="lakehouse")


def model_asset(model_name: str) -> Asset:
    """The Asset of a registered MLflow model; model_training emits an event per new version."""
    return Asset(name=f"mlflow.models.{model_name}", uri=f"mlflow://models/{model_name}", group="mlflow")


def champion_asset(model_name: str) -> Asset:
    """The Asset of a model's `champion` alias; model_promotion and model_rollback emit an event when it moves."""
    return Asset(
        name=f"mlflow.models.{model_name}.champion", uri=f"mlflow://models/{model_name}@champion", group="mlflow"
    )
