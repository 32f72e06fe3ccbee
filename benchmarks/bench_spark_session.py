"""Per-task SparkSession cost: a fresh local Spark per task process vs a Spark Connect server vs in-process reuse.

Usage: .venv/bin/python -m benchmarks.bench_spark_session --repeat 5

An Airflow task runs in a fresh Python process. Measured, each as the median of --repeat tasks:
- fresh local:   a new process creates a local SparkSession (starts a JVM), runs one tiny job, stops;
- fresh connect: a new process connects to a long-lived local Spark Connect server, runs the same job;
- python only:   a new process that imports pyspark and the project and does nothing else (the floor);
- reuse local:   one process, `get_spark` (getOrCreate) then the tiny job, as `dag.test()` runs tasks;
- reuse connect: one process, the Connect session created once and reused.
The server is started here with spark-submit (SparkConnectServer, bound to 127.0.0.1) and stopped at the
end. Then every feature table of one day is computed on a small bronze lakehouse both through classic
local Spark and through Spark Connect, and the rows are compared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyspark

from benchmarks.datagen import scaled_bronze

PYSPARK_HOME = Path(pyspark.__file__).resolve().parent  # bin/spark-submit and jars/ ship in the wheel
CONNECT_JAR = "spark-connect_2.13-4.2.0.jar"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DAY = date(2013, 1, 3)
BRONZE = {"flights": "bronze.flights", "weather": "bronze.weather", "planes": "bronze.planes"}

# The body of one "task" process: argv[1] is "local", "connect" or "none", argv[2] the Connect URL.
TASK = """
import sys, time
from mlops.config import load_settings
from mlops.spark import get_spark
from pyspark.sql import functions as F
if sys.argv[1] != "none":
    remote = sys.argv[2] if sys.argv[1] == "connect" else None
    spark = get_spark(load_settings("dev"), app_name="bench-task", remote=remote)
    total = spark.range(1000).select(F.sum("id")).collect()[0][0]
    if total != 499500:
        raise SystemExit(f"tiny job returned {total}, expected 499500")
    spark.stop()
"""

# Computes every feature table of DAY through the session of argv[1] ("local" or a Connect URL).
FEATURES = """
import sys, traceback
from datetime import date
import pyarrow.parquet as pq
from mlops.config import load_settings
from mlops.features.refresh import compute_feature_table
from usecases.flight_delay.features import FEATURE_TABLES
from mlops.lakehouse import Lakehouse
from mlops.spark import get_spark
settings = load_settings("dev")
spark = get_spark(settings, app_name="bench-features", remote=None if sys.argv[1] == "local" else sys.argv[1])
lakehouse = Lakehouse(sys.argv[2])
for table in FEATURE_TABLES:
    try:
        rows = compute_feature_table(spark, lakehouse, settings, table.name, date.fromisoformat(sys.argv[4]))
        pq.write_table(rows.toArrow(), f"{sys.argv[3]}/{table.short_name}.parquet")
    except Exception:  # reported to the parent with the full traceback, which is the point of this check
        open(f"{sys.argv[3]}/{table.short_name}.error", "w").write(traceback.format_exc())
spark.stop()
"""


def run_task(kind: str, url: str) -> float:
    """Wall seconds of one fresh task process of `kind`, from spawn to exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", TASK, kind, url], check=True, capture_output=True, env=_env())
    return time.perf_counter() - start


def _env() -> dict[str, str]:
    """This environment minus the Connect-mode markers a Connect session sets in it (they force Connect)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}
    return {**env, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


def median_of(run: Callable[[], float], repeat: int) -> tuple[float, float, float]:
    """(median, min, max) seconds of `repeat` runs."""
    times = [run() for _ in range(repeat)]
    return statistics.median(times), min(times), max(times)


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    """A local Spark Connect server on 127.0.0.1:`port`, ready to accept sessions."""
    command = [
        str(PYSPARK_HOME / "bin" / "spark-submit"),
        "--class", SERVER_CLASS, "--master", "local[2]", "--driver-memory", "2g",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", "spark.ui.enabled=false",
        str(PYSPARK_HOME / "jars" / CONNECT_JAR),
    ]  # fmt: skip
    log = log_path.open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Spark Connect server exited with {server.returncode}; see {log_path}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.5)
    stop_server(server)
    raise TimeoutError(f"Spark Connect server not listening on 127.0.0.1:{port} after 180 s; see {log_path}")


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server this script started (its own process group only)."""
    if server.poll() is None:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


def reuse_in_process(url: str | None, repeat: int) -> tuple[float, tuple[float, float, float]]:
    """(first getOrCreate seconds, (median, min, max) of get_spark + tiny job with the session reused)."""
    from pyspark.sql import functions as F

    from mlops.config import load_settings
    from mlops.spark import get_spark

    settings = load_settings("dev")
    start = time.perf_counter()
    spark = get_spark(settings, app_name="bench-reuse", remote=url)
    first = time.perf_counter() - start

    def task() -> float:
        begin = time.perf_counter()
        session = get_spark(settings, app_name="bench-reuse", remote=url)
        session.range(1000).select(F.sum("id")).collect()
        return time.perf_counter() - begin

    task()  # first job: codegen and class loading, part of `first` for a fresh process
    result = median_of(task, repeat)
    spark.stop()
    return first, result


def small_bronze(workdir: Path) -> Path:
    """A bronze lakehouse of 2012-12-31 .. DAY (all of planes), written with delta-rs."""
    from mlops.lakehouse import Lakehouse

    root = workdir / "lakehouse"
    lakehouse = Lakehouse(str(root))
    for name, table in scaled_bronze(1).items():
        if name != "planes":
            table = table.filter(pc.less_equal(table["date"], pa.scalar(DAY, pa.date32())))
        lakehouse.append(BRONZE[name], table, partition_by=None if name == "planes" else ["date"])
    return root


def features_through(session: str, lake: Path, out: Path) -> dict[str, pa.Table | str]:
    """Every feature table of DAY computed in a fresh process through `session`: Arrow rows or the error."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", FEATURES, session, str(lake), str(out), DAY.isoformat()], check=True, env=_env()
    )
    results: dict[str, pa.Table | str] = {}
    for path in sorted(out.iterdir()):
        results[path.stem] = pq.read_table(path) if path.suffix == ".parquet" else path.read_text()
    return results


def compare_features(local: dict[str, pa.Table | str], connect: dict[str, pa.Table | str]) -> bool:
    """Print one line per table: same rows through Connect as through classic local Spark?"""
    from usecases.flight_delay.features import feature_table

    print("\nFeature job of one day, classic local Spark vs Spark Connect")
    ok = True
    for name in sorted(set(local) | set(connect)):
        a, b = local.get(name), connect.get(name)
        if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
            print(f"  {name:16} FAILED\n    local: {str(a)[-400:]}\n    connect: {str(b)[-400:]}")
            ok = False
            continue
        order = [(k, "ascending") for k in (*feature_table(name).keys, "feature_date")]
        same = a.schema == b.schema and a.sort_by(order).equals(b.sort_by(order))
        ok = ok and same
        print(
            f"  {name:16} rows {a.num_rows:>6} local / {b.num_rows:>6} connect   identical: {'yes' if same else 'no'}"
        )
    return ok


def main(argv: list[str] | None = None) -> None:
    """Start the server, time the task kinds, check the feature job over Connect, stop the server."""
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="tasks per kind (median reported; >= 5)")
    parser.add_argument("--port", type=int, default=15002, help="Spark Connect port on 127.0.0.1")
    args = parser.parse_args(argv)
    url = f"sc://127.0.0.1:{args.port}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-spark-session-"))
    load = [psutil.getloadavg()[0]]
    start = time.perf_counter()
    server = start_server(args.port, workdir / "connect-server.log")
    print(f"Spark Connect server on {url} ready in {time.perf_counter() - start:.1f} s (started once)", flush=True)
    try:
        rows = {
            "python only (imports, no Spark)": median_of(lambda: run_task("none", url), args.repeat),
            "fresh process, local Spark": median_of(lambda: run_task("local", url), args.repeat),
            "fresh process, Spark Connect": median_of(lambda: run_task("connect", url), args.repeat),
        }
        load.append(psutil.getloadavg()[0])
        # Classic first: a Connect session sets SPARK_CONNECT_MODE_ENABLED in this process's environment.
        first_local, rows["one process, local reused"] = reuse_in_process(None, args.repeat)
        first_connect, rows["one process, Connect reused"] = reuse_in_process(url, args.repeat)
        lake = small_bronze(workdir)
        local = features_through("local", lake, workdir / "local")
        connect = features_through(url, lake, workdir / "connect")
        load.append(psutil.getloadavg()[0])
    finally:
        stop_server(server)
    floor = rows["one process, local reused"][0]
    print(f"\nPer-task cost of a tiny job (spark.range(1000) sum), {args.repeat} tasks each")
    print(f"{'how the task gets Spark':34} {'median s':>8} {'min s':>7} {'max s':>7} {'overhead vs reuse s':>20}")
    for name, (med, low, high) in rows.items():
        print(f"{name:34} {med:8.2f} {low:7.2f} {high:7.2f} {med - floor:20.2f}")
    print(f"first getOrCreate in a process: local {first_local:.2f} s, Connect {first_connect:.2f} s")
    same = compare_features(local, connect)
    print(f"\nall feature tables identical through Spark Connect: {'yes' if same else 'no'}")
    print(f"1-min load average at start, mid, end: {', '.join(f'{x:.1f}' for x in load)}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
