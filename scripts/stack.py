"""Start and drive the real services: processes, a Spark Connect server, Airflow's REST API.

Shared by the year replay (scripts/replay.py) and the native topology test
(tests/deploy/test_native_topology.py). Airflow is driven with its official Python client
(`apache-airflow-client`); the token comes from the API server's `/auth/token`, as the client's
documentation shows.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path

import requests

DONE = {"success", "failed"}


class Services:
    """Processes started in their own sessions; `stop` ends every process group, whatever happened."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.procs = logs, []
        logs.mkdir(parents=True, exist_ok=True)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.log(name), "w") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def alive(self) -> None:
        """Fail, naming the service and its log, if any process has exited."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log(name)}")

    def stop(self, seconds: float = 30) -> None:
        """SIGTERM every process group (newest first), SIGKILL what is left after `seconds`."""
        for _, proc in reversed(self.procs):
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Task processes of a LocalExecutor live in the scheduler's group and may outlive it.
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        settle = time.monotonic() + 10  # a killed group's members are gone once the kernel reaps them
        while self.groups_alive() and time.monotonic() < settle:
            time.sleep(0.2)

    def groups_alive(self) -> list[str]:
        """Names of services whose process group still has a member."""
        alive = []
        for name, proc in self.procs:
            try:
                os.killpg(proc.pid, 0)
                alive.append(name)
            except (ProcessLookupError, PermissionError):
                pass
        return alive


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, services: Services, minutes: float = 3) -> None:
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        services.alive()
        if listening(port):
            return
        time.sleep(1)
    raise RuntimeError(f"Nothing listens on port {port} after {minutes} min")


def spark_connect_command(master: str, port: int, driver_memory: str = "4g") -> list[str]:
    """The Spark Connect server of the pip-installed Spark (pyspark ships bin/ and the server jar)."""
    pyspark = Path(__import__("pyspark").__file__).parent
    connect_jar = next((pyspark / "jars").glob("spark-connect_*.jar"))
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.session.timeZone": "UTC",
    }
    server = "org.apache.spark.sql.connect.service.SparkConnectServer"
    command = [str(pyspark / "bin" / "spark-submit"), "--class", server, "--master", master]
    command += ["--driver-memory", driver_memory]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(connect_jar)]


def spark_connection(port: int) -> str:
    """AIRFLOW_CONN_SPARK_DEFAULT for a Spark Connect server on this machine."""
    return json.dumps({"conn_type": "generic", "host": f"sc://127.0.0.1:{port}"})


def admin_password(passwords_file: Path) -> str:
    """The SimpleAuthManager admin password: read from its file, or made and stored (mode 600)."""
    if not passwords_file.is_file():
        passwords_file.parent.mkdir(parents=True, exist_ok=True)
        passwords_file.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        passwords_file.chmod(0o600)
    return json.loads(passwords_file.read_text())["admin"]


class AirflowAPI:
    """The REST API v2 calls the replay and the topology test make, with the official client."""

    def __init__(self, url: str, username: str, password: str) -> None:
        from airflow_client.client import ApiClient, Configuration
        from airflow_client.client.api import DAGApi, DagRunApi, TaskInstanceApi

        token = requests.post(f"{url}/auth/token", json={"username": username, "password": password}, timeout=30)
        token.raise_for_status()
        client = ApiClient(Configuration(host=url, access_token=token.json()["access_token"]))
        self.url = url
        self.dags, self.runs, self.tasks = DAGApi(client), DagRunApi(client), TaskInstanceApi(client)

    @classmethod
    def connect(cls, url: str, username: str, password: str, services: Services, minutes: float = 2) -> AirflowAPI:
        """Log in once the API server issues tokens (it listens a little before it does)."""
        deadline = time.monotonic() + minutes * 60
        while True:
            services.alive()
            try:
                return cls(url, username, password)
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def wait_parsed(self, dag_ids: list[str], services: Services, minutes: float = 5) -> None:
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            services.alive()
            found = {d.dag_id for d in self.dags.get_dags(limit=100).dags}
            if set(dag_ids) <= found:
                return
            time.sleep(2)
        raise RuntimeError(f"DAGs not parsed after {minutes} min: {sorted(set(dag_ids) - found)}")

    def unpause(self, dag_id: str) -> None:
        from airflow_client.client.models import DAGPatchBody

        self.dags.patch_dag(dag_id, DAGPatchBody(is_paused=False), update_mask=["is_paused"])

    def trigger(self, dag_id: str, run_id: str, day: date | None, conf: dict) -> str:
        from airflow_client.client.models import TriggerDAGRunPostBody

        logical = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
        body = TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=logical, conf=conf)
        return self.runs.trigger_dag_run(dag_id, body).dag_run_id

    def state(self, dag_id: str, run_id: str) -> str:
        return self.runs.get_dag_run(dag_id, run_id).state.value

    def wait(self, dag_id: str, run_id: str, services: Services, hours: float = 1) -> str:
        deadline = time.monotonic() + hours * 3600
        while time.monotonic() < deadline:
            services.alive()
            state = self.state(dag_id, run_id)
            if state in DONE:
                return state
            time.sleep(2)
        raise RuntimeError(f"{dag_id} run {run_id} not done after {hours} h")

    def dag_runs(self, dag_id: str, states: list[str] | None = None) -> list:
        return self.runs.get_dag_runs(dag_id, state=states, limit=100).dag_runs

    def active(self, dag_id: str) -> list[str]:
        return [r.dag_run_id for r in self.dag_runs(dag_id, ["queued", "running"])]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        instances = self.tasks.get_task_instances(dag_id, run_id, limit=100).task_instances
        return {t.task_id: t.state.value if t.state else None for t in instances}
