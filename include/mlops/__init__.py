"""Domain core of the MLOps lakehouse: plain Python, no Airflow imports."""
