"""scripts/stack.py: the processes the replay and the topology test start, and how they are stopped."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil
import pytest

from scripts.stack import Services, admin_password, free_ports


def _wait_for_file(path: Path, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} not written")


def test_stop_ends_a_grandchild_in_a_process_group_of_its_own(tmp_path):
    # Airflow 3 runs each task in its own process group below the scheduler; killing the scheduler's
    # group alone would leave it running.
    services = Services(tmp_path / "logs")
    pid_file = tmp_path / "child.pid"
    leader = services.start(
        "parent", ["bash", "-c", f"setsid sleep 300 & echo $! > {pid_file}; wait"], dict(os.environ)
    )
    child = psutil.Process(int(_wait_for_file(pid_file)))
    deadline = time.monotonic() + 10  # `setsid` forks, then calls setsid(2): its group changes a moment later
    while os.getpgid(child.pid) == leader.pid and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.getpgid(child.pid) != leader.pid

    services.stop(seconds=5)

    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert services.leftovers() == []


def test_a_dead_service_and_a_failed_one_shot_name_their_logs(tmp_path):
    services = Services(tmp_path / "logs")
    try:
        services.start("short", ["bash", "-c", "echo bye; exit 3"], dict(os.environ)).wait()
        with pytest.raises(RuntimeError, match=r"short exited with 3; see .*short\.log"):
            services.alive()
        with pytest.raises(RuntimeError, match=r"init exited with 1; see .*init\.log"):
            services.run("init", ["bash", "-c", "exit 1"], dict(os.environ))
        assert (tmp_path / "logs" / "short.log").read_text() == "bye\n"
    finally:
        services.stop(seconds=5)


def test_a_finished_one_shot_does_not_count_as_a_dead_service(tmp_path):
    services = Services(tmp_path / "logs")
    services.run("init", ["true"], dict(os.environ))
    services.alive()  # no error: init was meant to exit


def test_admin_password_is_created_private_and_reread(tmp_path):
    path = tmp_path / "auth" / "passwords.json"
    first = admin_password(path)
    assert len(first) >= 16 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert admin_password(path) == first
    path.write_text(json.dumps({"someone": "x"}))
    with pytest.raises(RuntimeError, match=r"no password for user 'admin' \(users: \['someone'\]\)"):
        admin_password(path)


def test_free_ports_are_distinct():
    ports = free_ports(20)
    assert len(set(ports)) == 20
