"""Airflow adapters of the MLOps lakehouse: operators, sensors, triggers and notifiers over `mlops`."""
