#!/usr/bin/env bash
# The UIs for a person: Airflow (standalone: api-server, scheduler, dag-processor, triggerer) and MLflow.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ROOT/scripts/env.sh"
AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
PASSWORDS="$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
if [ ! -s "$PASSWORDS" ]; then
  python -c "import json, secrets, sys; json.dump({'admin': secrets.token_urlsafe(12)}, open(sys.argv[1], 'w'))" "$PASSWORDS"
  chmod 600 "$PASSWORDS"
fi
airflow db migrate > "$MLOPS_HOME/logs/airflow_db_migrate.log" 2>&1
python -m mlops_airflow.pools >> "$MLOPS_HOME/logs/airflow_db_migrate.log" 2>&1  # registry pools (see docs/pipelines.md)
mlflow server --backend-store-uri "$MLFLOW_TRACKING_URI" --default-artifact-root "$MLOPS_HOME/mlartifacts" \
  --host 127.0.0.1 --port "$MLFLOW_PORT" > "$MLOPS_HOME/logs/mlflow_ui.log" 2>&1 &
MLFLOW_PID=$!
AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT="$AIRFLOW_PORT" \
  AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW_PORT/execution/" airflow standalone > "$MLOPS_HOME/logs/airflow_standalone.log" 2>&1 &
AIRFLOW_PID=$!
trap 'kill $MLFLOW_PID $AIRFLOW_PID 2>/dev/null; wait' INT TERM EXIT
echo "Starting Airflow and MLflow (about a minute)..."
for _ in $(seq 1 120); do
  python -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" >/dev/null 2>&1 && break
  kill -0 $AIRFLOW_PID 2>/dev/null || { echo "Airflow did not start; see $MLOPS_HOME/logs/airflow_standalone.log" >&2; exit 1; }
  sleep 2
done
PASSWORD=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['admin'])" "$PASSWORDS")
echo "Airflow: http://localhost:$AIRFLOW_PORT  (user admin, password $PASSWORD; stored in $PASSWORDS)"
echo "MLflow:  http://localhost:$MLFLOW_PORT"
echo "Logs: $MLOPS_HOME/logs/airflow_standalone.log, $MLOPS_HOME/logs/mlflow_ui.log. Ctrl-C stops both."
wait
