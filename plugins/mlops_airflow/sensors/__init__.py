"""Sensors that defer to triggers in `mlops_airflow.triggers`."""
