"""A throwaway PostgreSQL server from Debian's packages, initialised the way the compose stack is.

The `postgres` image creates POSTGRES_USER (superuser) and POSTGRES_DB from its environment, then runs
docker/postgres/init-databases.sh; this does the same with initdb, createdb and that very script, on
a free loopback port with password (scram-sha-256) authentication over TCP. Postgres refuses to run
as root, so under root the server runs as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil


def server_binaries() -> Path | None:
    """The folder holding initdb / pg_ctl / postgres (PATH first, then Debian's versioned folders)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    newest = max(
        candidates, key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0, default=None
    )
    return Path(newest).parent if newest else None


class Postgres:
    def __init__(self, port: int, superuser: str, password: str) -> None:
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
        self.port, self.superuser, self.password = port, superuser, password
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
        self.data, self.log = self.dir / "data", self.dir / "postgres.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.pid: int | None = None  # the postmaster, once started
        if self._as:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *command: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([*self._as, *command], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout

    def start(self) -> None:
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password)
        if self._as:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.superuser,
            f"--pwfile={pwfile}",
            "--auth-local=trust",  # the socket lives in a private folder; only this test reaches it
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        )
        pwfile.unlink()
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        """True while the postmaster process is alive (whatever its pid file says)."""
        if self.pid is None:
            return False
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def client_env(self, **extra: str) -> dict[str, str]:
        """Environment for psql over the private socket, as the superuser."""
        return {**os.environ, "PGHOST": str(self.dir), "PGPORT": str(self.port), "PGUSER": self.superuser, **extra}

    def createdb(self, name: str) -> None:
        self._run("createdb", name, env=self.client_env())

    def run_script(self, script: Path, env: dict[str, str]) -> None:
        """Run an initdb.d script (bash + psql) the way the postgres image does."""
        self._run("bash", str(script), env=self.client_env(**{**env, "POSTGRES_USER": self.superuser}))

    def query(self, database: str, sql: str) -> list[list[str]]:
        out = self._run("psql", "-At", "-F", "\t", "-d", database, "-c", sql, env=self.client_env())
        return [line.split("\t") for line in out.splitlines() if line]

    def url(self, user: str, password: str, database: str) -> str:
        return f"postgresql+psycopg2://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
