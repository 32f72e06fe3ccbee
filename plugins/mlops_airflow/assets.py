"""Airflow Assets of the lakehouse tables and the model registry, one constant per thing."""

from __future__ import annotations

from airflow.sdk import Asset


def table_asset(table: str) -> Asset:
    """The Asset of lakehouse table `<layer>.<table>` (same name in every environment's Airflow)."""
    layer, name = table.split(".", 1)
    return Asset(name=table, uri=f"lakehouse://{layer}/{name}", group="lakehouse")


BRONZE_FLIGHTS = table_asset("bronze.flights")
BRONZE_WEATHER = table_asset("bronze.weather")
BRONZE_PLANES = table_asset("bronze.planes")
BRONZE_ASSETS = {"flights": BRONZE_FLIGHTS, "weather": BRONZE_WEATHER, "planes": BRONZE_PLANES}
