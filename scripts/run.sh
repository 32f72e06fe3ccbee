#!/usr/bin/env bash
# Command 1 of the quick start: the main job on the embedded default. Options: START=YYYY-MM-DD DAYS=N.
# REPLAY=2013 [DAYS=N CYCLE_DAYS=N]: instead, replay the year through every DAG on the Airflow scheduler (its own
# state under .mlops/replay; see scripts/replay.py).
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [ -n "${REPLAY:-}" ]; then export MLOPS_HOME="${MLOPS_HOME:-$ROOT/.mlops/replay}"; fi
source "$ROOT/scripts/env.sh"
mkdir -p "$MLOPS_HOME/logs"
echo "Initialising Airflow metadata DB ($AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) and MLflow ($MLFLOW_TRACKING_URI)"
airflow db migrate > "$MLOPS_HOME/logs/airflow_db_migrate.log" 2>&1 || { tail -20 "$MLOPS_HOME/logs/airflow_db_migrate.log"; exit 1; }
# One-slot pool per registered model for the registry-writing tasks (tasks cannot create it themselves).
python -m mlops_airflow.pools >> "$MLOPS_HOME/logs/airflow_db_migrate.log" 2>&1 || { tail -20 "$MLOPS_HOME/logs/airflow_db_migrate.log"; exit 1; }
python -m mlops.tracking >> "$MLOPS_HOME/logs/mlflow_init.log" 2>&1 || { tail -20 "$MLOPS_HOME/logs/mlflow_init.log"; exit 1; }
if [ -n "${REPLAY:-}" ]; then exec python -m scripts.replay --year "$REPLAY" ${DAYS:+--days "$DAYS"} ${CYCLE_DAYS:+--cycle-days "$CYCLE_DAYS"} "$@"; fi
exec python -m scripts.main_job ${START:+--start "$START"} ${DAYS:+--days "$DAYS"} "$@"
