#!/usr/bin/env bash
# Command 1 of the quick start: the main job on the embedded default. Options: START=YYYY-MM-DD DAYS=N.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ROOT/scripts/env.sh"
mkdir -p "$MLOPS_HOME/logs"
echo "Initialising Airflow metadata DB ($AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) and MLflow ($MLFLOW_TRACKING_URI)"
airflow db migrate > "$MLOPS_HOME/logs/airflow_db_migrate.log" 2>&1 || { tail -20 "$MLOPS_HOME/logs/airflow_db_migrate.log"; exit 1; }
python -m mlops.tracking >> "$MLOPS_HOME/logs/mlflow_init.log" 2>&1 || { tail -20 "$MLOPS_HOME/logs/mlflow_init.log"; exit 1; }
exec python scripts/main_job.py ${START:+--start "$START"} ${DAYS:+--days "$DAYS"} "$@"
