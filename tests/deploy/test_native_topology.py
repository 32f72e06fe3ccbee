"""The production topology of docker-compose.yaml, started natively and driven through Airflow's REST API.

No Docker engine here, so each compose service runs as a process with the compose file's own
environment and commands (interpolated from .env.example with generated secrets), service names
mapped to loopback ports and container paths to a temporary folder:

- postgres: Debian's PostgreSQL server, initialised like the image (superuser + POSTGRES_DB), then
  docker/postgres/init-databases.sh itself adds the MLflow role and its two databases;
- mlflow: the compose command (render docker/mlflow/basic_auth.ini, `mlflow server --app-name
  basic-auth`, artifacts served by the server) on the Postgres backend and auth stores;
- spark-connect: a Spark Connect server (without the Delta jars, which only the image has:
  the pipelines write Delta through delta-rs either way, ../shared/ARCHITECTURE.md);
- airflow-init (db migrate, admin password file), then airflow-apiserver, -scheduler,
  -dag-processor and -triggerer with the compose environment (LocalExecutor, Postgres, JWT secret,
  Execution API URL, SimpleAuthManager, the Spark connection, MLflow with its admin credentials).

The staging config runs both built-in use cases side by side. The test lands 19 days of each (EWR
flights from 2013-01-01, Capital Bikeshare from 2011-05-15), then through the official Python client
triggers each one's feature_refresh (one run over its 19 days; both at once) and model_training (the
first 18); each model_promotion follows from its registered-model asset and each batch_inference from
its champion change (scoring day 19). It checks run and task states, the tables, the registries through
the authenticated server, what is stored in Postgres, and at the end that everything it started has
stopped.

Run alone: `make test ARGS="-m topology"`. Needs PostgreSQL's server binaries (.ci/run installs them).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from scripts.stack import (
    AirflowAPI,
    Services,
    free_ports,
    listening,
    spark_connect_command,
    wait_for_port,
)
from tests.deploy._compose import interpolate, load_env_file, load_yaml
from tests.deploy._postgres import Postgres, server_binaries

ROOT = Path(__file__).resolve().parents[2]

# One budget for the module's fixture and tests; the waits inside fit in it and name what is late.
pytestmark = [pytest.mark.topology, pytest.mark.timeout(3000)]  # two use cases on shared cores

WINDOW_DAYS = 18  # the model_training integration test's window: a first model beats the 0.55 baseline
DAYS = WINDOW_DAYS + 1  # the last day is scored by the champion-change run, outside the training window
AIRFLOW_COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
USECASE, BIKE = "flight_delay", "bike_demand"  # the use cases the staging config enables
# Each use case's first day. Bike: a first model learnt from 18 days with no history before them (no rides a
# week earlier for its first week) beats the seasonal-naive baseline here (RMSE 71 vs 85 on May 30 - Jun 1).
STARTS = {USECASE: date(2013, 1, 1), BIKE: date(2011, 5, 15)}
START = STARTS[USECASE]
WINDOW_END = {name: day + timedelta(days=WINDOW_DAYS - 1) for name, day in STARTS.items()}
SCORED_DAY = {name: day + timedelta(days=WINDOW_DAYS) for name, day in STARTS.items()}
STEPS = ("feature_refresh", "model_training", "model_promotion", "batch_inference")
PIPELINES = tuple(f"{name}.{step}" for name in STARTS for step in STEPS)
# The test drives the data clock: no time schedules, no training on feature updates.
TEST_SETTINGS = {
    "schedules": {
        "feature_refresh": None,
        "model_training": None,
        "batch_inference": None,
        "model_monitoring": None,
        "table_maintenance": None,
        "train_on_feature_updates": False,
    },
    "training": {"train_window_days": WINDOW_DAYS},
}


@dataclass
class Stack:
    home: Path
    services: Services
    postgres: Postgres
    api: AirflowAPI
    values: dict[str, str]  # the .env the compose file was interpolated with
    ports: dict[str, int]
    env: dict[str, str]  # an Airflow component's environment
    runs: dict[str, list]  # dag_id -> its runs, once everything finished

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def stop(self) -> None:
        try:
            self.services.stop()
        finally:
            self.postgres.stop()


def dotenv(ports: dict[str, int]) -> dict[str, str]:
    """.env.example with every change-me secret generated, staging config, the test's ports."""
    from cryptography.fernet import Fernet

    values = load_env_file(ROOT / ".env.example")
    for key, value in values.items():
        if value.startswith("change-me"):
            values[key] = secrets.token_urlsafe(16)
    values["AIRFLOW_FERNET_KEY"] = Fernet.generate_key().decode()
    values.update(
        MLOPS_ENV="staging",  # CI's config: EWR only, minutes not hours
        MLFLOW_WORKERS="1",
        MLFLOW_ALLOWED_HOSTS=f"127.0.0.1:{ports['mlflow']}",
        AIRFLOW_PARALLELISM="4",  # 2 cores
    )
    return values


def native(value: str, home: Path, ports: dict[str, int]) -> str:
    """A compose string with service addresses mapped to loopback ports and container paths to `home`."""
    for container, local in (
        ("@postgres:5432/", f"@127.0.0.1:{ports['postgres']}/"),
        ("http://mlflow:5000", f"http://127.0.0.1:{ports['mlflow']}"),
        ("http://airflow-apiserver:8080/", f"http://127.0.0.1:{ports['api']}/"),
        ("sc://spark-connect:15002", f"sc://127.0.0.1:{ports['spark']}"),
        ("--host 0.0.0.0 --port 5000", f"--host 127.0.0.1 --port {ports['mlflow']}"),
        ("/opt/airflow/docker/", f"{ROOT}/docker/"),
        ("/opt/airflow/auth/", f"{home}/airflow-auth/"),
        ("/opt/mlflow/artifacts", f"{home}/mlflow-artifacts"),
        ("/opt/mlops", f"{home}/mlops"),
        ("/tmp/mlflow/", f"{home}/mlflow/"),
    ):
        value = value.replace(container, local)
    return value


def service_env(service: dict, home: Path, ports: dict[str, int]) -> dict[str, str]:
    return {key: native(str(value), home, ports) for key, value in (service.get("environment") or {}).items()}


def init_script(service: dict, home: Path, ports: dict[str, int]) -> str:
    """airflow-init's script without what only a container needs (uid 50000 ownership, the entrypoint's DB wait)."""
    script = native(service["command"][-1], home, ports)
    lines = [line for line in script.splitlines() if not line.strip().startswith("chown ")]
    return "\n".join(lines).replace("/entrypoint airflow", "airflow").replace("/entrypoint python", "python")


def _land(home: Path) -> None:
    from mlops.config import load_settings
    from mlops.landing import land_range

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_LANDING_ROOT", str(home / "mlops" / "landing"))
        for name, start in STARTS.items():
            land_range(load_settings("staging", usecase=name), start, DAYS)


def _wait_for_run(api: AirflowAPI, dag_id: str, services: Services, minutes: float = 5) -> list:
    """Wait until `dag_id` has a run started by an asset event and none is queued or running."""
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        services.alive()
        runs = api.dag_runs(dag_id)
        if runs and all(r.state.value in {"success", "failed"} for r in runs):
            return runs
        time.sleep(2)
    raise RuntimeError(f"{dag_id}: no finished run after {minutes} min")


def _start(home: Path) -> Stack:
    if server_binaries() is None:
        message = "PostgreSQL server binaries not found (apt-get install postgresql); .ci/run installs them"
        if os.environ.get("MLOPS_REQUIRE_TOPOLOGY"):
            pytest.fail(message)
        pytest.skip(message)
    names = ("postgres", "mlflow", "api", "spark", "spark_ui", "health", "logs", "trigger_logs")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    values = dotenv(ports)
    compose = interpolate(load_yaml(ROOT / "docker-compose.yaml"), values)["services"]
    services = Services(home / "logs")
    postgres = Postgres(ports["postgres"], values["POSTGRES_USER"], values["POSTGRES_PASSWORD"])
    stack = None
    try:
        postgres.start()
        postgres.createdb(values["POSTGRES_DB"])
        postgres.run_script(
            ROOT / "docker" / "postgres" / "init-databases.sh", service_env(compose["postgres"], home, ports)
        )

        base = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        mlflow = compose["mlflow"]
        services.start(
            "mlflow",
            mlflow["command"][:2] + [native(mlflow["command"][2], home, ports)],
            {**base, **service_env(mlflow, home, ports)},
        )
        connect = spark_connect_command("local[2]", ports["spark"], "2g", ports["spark_ui"])
        services.start("spark-connect", connect, base)

        airflow_env = {
            **base,
            **service_env(compose["airflow-scheduler"], home, ports),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),  # the image copies them to its default folder
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "MLOPS_SETTINGS": json.dumps(TEST_SETTINGS),
            # What the container gets from the image or its port mapping, here on free loopback ports.
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(ports["api"]),
            "AIRFLOW__API__WORKERS": "1",
            # The DAG files are fixed for the test's life: parse them once. Re-parsing every file every 30 s
            # (the default) took about a third of a core for the whole run, away from the tasks it waits on.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports["health"]),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["logs"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_logs"]),
        }
        for path in ("mlops/lakehouse", "mlops/landing", "airflow-auth", "airflow"):
            (home / path).mkdir(parents=True, exist_ok=True)
        init = compose["airflow-init"]
        init_env = {**airflow_env, **service_env(init, home, ports)}
        services.run("airflow-init", ["bash", "-c", init_script(init, home, ports)], init_env)
        for name in AIRFLOW_COMPONENTS:
            services.start(name, ["airflow", compose[name]["command"]], airflow_env)

        _land(home)

        wait_for_port(ports["api"], services)
        api = AirflowAPI.connect(
            f"http://127.0.0.1:{ports['api']}",
            values["AIRFLOW_ADMIN_USERNAME"],
            values["AIRFLOW_ADMIN_PASSWORD"],
            services,
        )
        stack = Stack(home, services, postgres, api, values, ports, airflow_env, {})
        api.wait_parsed(list(PIPELINES), services)
        for dag_id in PIPELINES:
            api.unpause(dag_id)
        wait_for_port(ports["spark"], services)
        wait_for_port(ports["mlflow"], services)

        for name, start in STARTS.items():  # both use cases at once, as a deployment runs them
            api.trigger(f"{name}.feature_refresh", "topology__features", start, {"days": DAYS})
        for name in STARTS:
            api.wait(f"{name}.feature_refresh", "topology__features", services, hours=0.4)
        for name in STARTS:
            conf = {"window_end": str(WINDOW_END[name]), "window_days": WINDOW_DAYS, "reason": "topology test"}
            if name == BIKE:  # both staging trials whatever the load (the baseline figures above are for two)
                conf["tuning_timeout_seconds"] = 600
            api.trigger(f"{name}.model_training", "topology__training", None, conf)
        for name in STARTS:
            api.wait(f"{name}.model_training", "topology__training", services, hours=0.15)
        for dag_id in PIPELINES:
            stack.runs[dag_id] = _wait_for_run(api, dag_id, services)
        return stack
    except BaseException:
        try:
            services.stop()
        finally:
            postgres.stop()
            postgres.remove()
        raise


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("topology")
    started = _start(home)
    yield started
    started.stop()
    started.postgres.remove()


def _logs(stack: Stack) -> str:
    return f"logs: {stack.home / 'logs'}, task logs: {stack.home / 'airflow' / 'logs'}"


@pytest.mark.parametrize("usecase", list(STARTS))
def test_every_pipeline_ran_to_success_through_the_rest_api(stack, usecase):
    states = {
        dag_id: [(r.dag_run_id, r.run_type.value, r.state.value) for r in runs] for dag_id, runs in stack.runs.items()
    }
    assert states[f"{usecase}.feature_refresh"] == [("topology__features", "manual", "success")], _logs(stack)
    assert states[f"{usecase}.model_training"] == [("topology__training", "manual", "success")], _logs(stack)
    # Nobody triggered these: the registered-model asset started promotion, the champion alias inference.
    assert [(kind, state) for _, kind, state in states[f"{usecase}.model_promotion"]] == [
        ("asset_triggered", "success")
    ], _logs(stack)
    assert [(kind, state) for _, kind, state in states[f"{usecase}.batch_inference"]] == [
        ("asset_triggered", "success")
    ], _logs(stack)
    assert [stack.api.active(f"{usecase}.{step}") for step in STEPS] == [[], [], [], []]
    tasks = stack.api.task_states(f"{usecase}.feature_refresh", "topology__features")
    assert len(tasks) > 10 and set(tasks.values()) == {"success"}, tasks


def test_tables_hold_the_window_features_and_the_champions_predictions(stack):
    from mlops.lakehouse import Lakehouse
    from usecases.flight_delay.features import FEATURE_TABLES

    lake = Lakehouse(str(stack.home / "mlops" / "lakehouse" / USECASE))
    days = {START + timedelta(days=i) for i in range(DAYS)}
    assert set(lake.read_pandas("bronze.flights", columns=["date"])["date"]) == days
    for table in FEATURE_TABLES:
        assert set(lake.read_pandas(table.name, columns=[table.date_column])[table.date_column]) == days, table.name
    schedule = lake.read("features.flight_schedule", filters=[("feature_date", "=", SCORED_DAY[USECASE])])
    predictions = lake.read_pandas("gold.predictions")
    assert set(predictions["entity_date"]) == {SCORED_DAY[USECASE]}
    assert len(predictions) == schedule.num_rows > 100
    assert set(predictions["model_version"]) == {"1"} and predictions["probability"].between(0, 1).all()
    runs = lake.read_pandas("monitoring.inference_runs")
    assert list(runs["outcome"]) == ["scored"]
    decisions = lake.read_pandas("monitoring.cd_decisions")
    promoted = decisions[(decisions["step"] == "promotion") & (decisions["outcome"] == "promoted")]
    assert list(promoted["version"]) == ["1"]


def test_bike_tables_hold_its_window_and_riders_forecasts_for_every_hour_of_the_scored_day(stack):
    from mlops.lakehouse import Lakehouse
    from usecases.bike_demand.features import FEATURE_TABLES

    lake = Lakehouse(str(stack.home / "mlops" / "lakehouse" / BIKE))
    days = {STARTS[BIKE] + timedelta(days=i) for i in range(DAYS)}
    for dataset in ("rides", "weather"):
        assert set(lake.read_pandas(f"bronze.{dataset}", columns=["date"])["date"]) == days, dataset
    assert lake.read("bronze.calendar").num_rows == 365
    for table in FEATURE_TABLES:
        assert set(lake.read_pandas(table.name, columns=[table.date_column])[table.date_column]) == days, table.name
    predictions = lake.read_pandas("gold.predictions")
    assert set(predictions["entity_date"]) == {SCORED_DAY[BIKE]} and sorted(predictions["hour"]) == list(range(24))
    assert set(predictions["model_version"]) == {"1"} and (predictions["prediction"] >= 0).all()
    assert list(lake.read_pandas("monitoring.inference_runs")["outcome"]) == ["scored"]
    decisions = lake.read_pandas("monitoring.cd_decisions")
    lift = decisions[(decisions["step"] == "comparison") & (decisions["check"] == "rmse_lift")]
    assert lift["outcome"].tolist() == ["passed"] and lift["value"].item() > 0  # beats the seasonal naive
    promoted = decisions[(decisions["step"] == "promotion") & (decisions["outcome"] == "promoted")]
    assert list(promoted["version"]) == ["1"]


def test_spark_work_ran_on_the_spark_connect_server(stack):
    """The tasks reached Spark through the compose `spark_default` connection, not a local session."""
    ui = f"http://127.0.0.1:{stack.ports['spark_ui']}"
    # What the compose health check asks (curl --fail: a redirect is healthy).
    assert requests.get(f"{ui}/", allow_redirects=False, timeout=30).status_code < 400
    (app,) = requests.get(f"{ui}/api/v1/applications", timeout=30).json()
    assert app["name"].endswith("SparkConnectServer")
    jobs = requests.get(f"{ui}/api/v1/applications/{app['id']}/jobs", timeout=30).json()
    sessions = {tag.split("_Session_")[1].split("_")[0] for job in jobs for tag in job["jobTags"] if "_Session_" in tag}
    assert [job for job in jobs if job["status"] == "FAILED"] == []
    # One client session per Spark task process: the feature jobs of feature_refresh at least.
    assert len([job for job in jobs if job["status"] == "SUCCEEDED"]) > 10 and len(sessions) >= 2, sessions


def test_registry_on_the_authenticated_mlflow_server(stack, monkeypatch):
    from mlflow import MlflowClient

    model, bike_model = "flight_delay_staging", "bike_demand_staging"
    anonymous = requests.get(f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/search", timeout=30)
    assert anonymous.status_code == 401
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", stack.values["MLFLOW_ADMIN_USERNAME"])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.values["MLFLOW_ADMIN_PASSWORD"])
    client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
    champion = client.get_model_version_by_alias(model, "champion")
    assert champion.version == "1"
    run = client.get_run(champion.run_id)
    assert run.data.metrics["test_roc_auc"] >= 0.55
    bike_champion = client.get_model_version_by_alias(bike_model, "champion")
    bike_metrics = client.get_run(bike_champion.run_id).data.metrics
    assert bike_champion.version == "1" and bike_metrics["test_rmse"] < bike_metrics["baseline_rmse"]
    # The artifacts went through the server (--serve-artifacts) into its store, not to the tasks' disks.
    assert any((stack.home / "mlflow-artifacts").rglob("MLmodel"))
    # Both MLflow stores are in Postgres, in their own databases.
    stored = stack.postgres.query(stack.values["MLFLOW_DB_NAME"], "select name from registered_models order by name")
    assert stored == [[bike_model], [model]]
    users = stack.postgres.query(stack.values["MLFLOW_AUTH_DB_NAME"], "select username, is_admin from users")
    assert [stack.values["MLFLOW_ADMIN_USERNAME"], "t"] in users


def test_mlflow_server_runs_without_its_job_runner(stack):
    """MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false (compose default): no Huey consumers beside the server."""
    import psutil

    (server,) = [proc for name, proc in stack.services.procs if name == "mlflow"]
    children = [" ".join(child.cmdline()) for child in psutil.Process(server.pid).children(recursive=True)]
    assert any("uvicorn" in command for command in children), children
    assert [command for command in children if "huey" in command or "_job_runner" in command] == []


def test_airflow_state_is_in_postgres_and_the_api_requires_a_token(stack):
    assert requests.get(f"{stack.airflow_url}/api/v2/dags", timeout=30).status_code == 401
    health = requests.get(f"{stack.airflow_url}/api/v2/monitor/health", timeout=30).json()
    assert health["metadatabase"]["status"] == "healthy" and health["scheduler"]["status"] == "healthy"
    assert health["dag_processor"]["status"] == "healthy" and health["triggerer"]["status"] == "healthy"
    assert requests.get(f"http://127.0.0.1:{stack.ports['health']}/health", timeout=30).status_code == 200
    rows = stack.postgres.query(stack.values["POSTGRES_DB"], "select dag_id, state from dag_run order by dag_id")
    assert sorted(rows) == sorted([dag_id, "success"] for dag_id in PIPELINES)
    assert not list((stack.home / "airflow").glob("*.db")), "no SQLite database beside the Postgres one"


def test_everything_it_started_stops(stack):
    stack.stop()
    assert stack.services.leftovers() == []  # every service, its task processes, airflow-init's
    assert stack.postgres.pid is not None and not stack.postgres.running()
    assert [name for name, port in stack.ports.items() if listening(port)] == []
