"""Start and drive the real services: processes, a Spark Connect server, Airflow's REST API.

Shared by the year replay (scripts/replay.py) and the native topology test
(tests/deploy/test_native_topology.py). Airflow is driven with its official Python client
(`apache-airflow-client`); the token comes from the API server's `/auth/token`, as the client's
documentation shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psutil
import requests

DONE = {"success", "failed"}


class Services:
    """Processes started in their own sessions; `stop` ends each one with everything it started."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.procs = logs, []
        self._stopped: dict[str, list[psutil.Process]] = {}
        self._one_shot: set[str] = set()
        logs.mkdir(parents=True, exist_ok=True)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.log(name), "w") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def run(self, name: str, command: list[str], env: dict[str, str], minutes: float = 10) -> None:
        """A one-shot step (like a compose init service): wait for it, fail naming its log."""
        proc = self.start(name, command, env)
        self._one_shot.add(name)
        try:
            code = proc.wait(timeout=minutes * 60)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name} still running after {minutes} min; see {self.log(name)}") from None
        if code != 0:
            raise RuntimeError(f"{name} exited with {code}; see {self.log(name)}")

    def alive(self) -> None:
        """Fail, naming the service and its log, if a long-running process has exited."""
        for name, proc in self.procs:
            if name not in self._one_shot and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log(name)}")

    def stop(self, seconds: float = 30) -> None:
        """SIGTERM each service and everything it started, SIGKILL what is left after `seconds`.

        Members are collected before any signal: Airflow 3 runs each task in a process group of its own
        (below the scheduler, not in its group), and an orphan would no longer show as a descendant.
        """
        members = {name: _members(proc.pid) for name, proc in self.procs}
        for name, found in members.items():
            self._stopped.setdefault(name, []).extend(found)
        everyone = [p for found in members.values() for p in found]
        for _, proc in reversed(self.procs):
            _signal_group(proc.pid, signal.SIGTERM)
        for member in everyone:
            with contextlib.suppress(psutil.Error):
                member.terminate()
        _, left = psutil.wait_procs(everyone, timeout=seconds)
        for member in left:
            with contextlib.suppress(psutil.Error):
                member.kill()
        psutil.wait_procs(left, timeout=10)
        for _, proc in self.procs:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()

    def leftovers(self) -> list[str]:
        """Services with a process still running: of those seen at `stop`, or in their process group now."""
        return [
            name
            for name, proc in self.procs
            if any(_running(p) for p in [*self._stopped.get(name, []), *_members(proc.pid)])
        ]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _members(pid: int) -> list[psutil.Process]:
    """A service's live processes: the leader, its descendants, and whatever else is in its process group."""
    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        leader = psutil.Process(pid)
        found[pid] = leader
        found.update((child.pid, child) for child in leader.children(recursive=True))
    for process in psutil.process_iter():
        with contextlib.suppress(OSError):
            if os.getpgid(process.pid) == pid:
                found.setdefault(process.pid, process)
    return [p for p in found.values() if _running(p)]


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all held while they are chosen, so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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


def spark_connect_command(master: str, port: int, driver_memory: str = "4g", ui_port: int | None = None) -> list[str]:
    """The Spark Connect server of the pip-installed Spark (pyspark ships bin/ and the server jar).

    `ui_port` pins its Spark UI (and monitoring REST API); by default Spark takes 4040 or the next free port.
    """
    pyspark = Path(__import__("pyspark").__file__).parent
    connect_jar = next((pyspark / "jars").glob("spark-connect_*.jar"), None)
    if connect_jar is None:
        raise RuntimeError(f"No spark-connect_*.jar in {pyspark / 'jars'}: install pyspark[connect] (requirements.txt)")
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.session.timeZone": "UTC",
    }
    if ui_port is not None:
        conf["spark.ui.port"] = str(ui_port)
    server = "org.apache.spark.sql.connect.service.SparkConnectServer"
    command = [str(pyspark / "bin" / "spark-submit"), "--class", server, "--master", master]
    command += ["--driver-memory", driver_memory]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(connect_jar)]


def spark_connection(port: int) -> str:
    """AIRFLOW_CONN_SPARK_DEFAULT for a Spark Connect server on this machine."""
    return json.dumps({"conn_type": "generic", "host": f"sc://127.0.0.1:{port}"})


def admin_password(passwords_file: Path, username: str = "admin") -> str:
    """A SimpleAuthManager user's password: read from its file, or made and stored (created mode 600)."""
    if not passwords_file.is_file():
        passwords_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(passwords_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump({username: secrets.token_urlsafe(12)}, out)
    passwords = json.loads(passwords_file.read_text())
    if username not in passwords:
        raise RuntimeError(f"{passwords_file} has no password for user {username!r} (users: {sorted(passwords)})")
    return passwords[username]


class AirflowAPI:
    """The REST API v2 calls the replay and the topology test make, with the official client."""

    def __init__(self, url: str, username: str, password: str) -> None:
        from airflow_client.client import ApiClient, Configuration
        from airflow_client.client.api import DAGApi, DagRunApi, TaskInstanceApi

        token = requests.post(f"{url}/auth/token", json={"username": username, "password": password}, timeout=30)
        if token.status_code in (401, 403):
            raise PermissionError(
                f"Airflow at {url} refused user {username!r}: check its password (HTTP {token.status_code})"
            )
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
        """Wait until the DAG processor has stored every DAG; name import errors if it has not."""
        from airflow_client.client.api import ImportErrorApi

        deadline = time.monotonic() + minutes * 60
        while True:
            services.alive()
            missing = set(dag_ids) - {d.dag_id for d in self.dags.get_dags(limit=100).dags}
            if not missing:
                return
            if time.monotonic() > deadline:
                errors = ImportErrorApi(self.dags.api_client).get_import_errors(limit=20).import_errors
                found = "; ".join(f"{e.filename}: {e.stack_trace.strip().splitlines()[-1]}" for e in errors)
                raise RuntimeError(
                    f"DAGs not parsed after {minutes} min: {sorted(missing)}; import errors: {found or 'none'}"
                )
            time.sleep(2)

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
