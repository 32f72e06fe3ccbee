#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume
# (/docker-entrypoint-initdb.d). POSTGRES_USER / POSTGRES_DB already hold the Airflow metadata
# database; this adds the MLflow role and its two databases: the tracking/registry backend store
# and the basic-auth user store. On an existing volume, run the same SQL by hand (see the README).
set -euo pipefail
: "${MLFLOW_DB_USER:?set MLFLOW_DB_USER in .env}"
: "${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD in .env}"
: "${MLFLOW_DB_NAME:?set MLFLOW_DB_NAME in .env}"
: "${MLFLOW_AUTH_DB_NAME:?set MLFLOW_AUTH_DB_NAME in .env}"

# psql variables (:"name" identifiers, :'name' literals) quote the values safely.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=mlflow_user="$MLFLOW_DB_USER" --set=mlflow_password="$MLFLOW_DB_PASSWORD" \
  --set=mlflow_db="$MLFLOW_DB_NAME" --set=mlflow_auth_db="$MLFLOW_AUTH_DB_NAME" <<'SQL'
CREATE ROLE :"mlflow_user" LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE :"mlflow_db" OWNER :"mlflow_user";
CREATE DATABASE :"mlflow_auth_db" OWNER :"mlflow_user";
REVOKE ALL ON DATABASE :"mlflow_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"mlflow_auth_db" FROM PUBLIC;
SQL
