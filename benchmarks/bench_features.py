"""Feature refresh cost: the Spark jobs (per day, and one range job per month or year) vs the pandas oracle.

Usage: .venv/bin/python -m benchmarks.bench_features --scales 1 10 --periods day month year

For each scale, bronze.flights / bronze.weather / bronze.planes are written with delta-rs from
benchmarks/datagen.py (flights and planes scaled, weather as is), then every feature table is computed:
- spark:  `compute_feature_table` for the day, `compute_feature_range` for the month and the year,
          materialized with `toArrow()` (what `stage_feature_table` hands to the delta-rs commit);
- pandas: bronze read with delta-rs (`Lakehouse.read_pandas`, partition filter) and the oracle
          `compute_feature_table_pandas` for each day of the period (it is a per-day function).
Spark and pandas rows are compared on the day and the month (identical: yes/no, max abs difference).
A year that would exceed --year-budget-min is measured on a quarter and extrapolated by input rows;
the pandas year is extrapolated from the pandas month by days unless --pandas-year. Both are labelled.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from benchmarks.bench_lakehouse import PeakRss
from benchmarks.datagen import scaled_bronze
from mlops.config import load_settings  # noqa: E402
from mlops.features.refresh import compute_feature_range, compute_feature_table  # noqa: E402
from mlops.lakehouse import Lakehouse  # noqa: E402
from mlops.spark import get_spark  # noqa: E402
from usecases.flight_delay.features import AGGREGATES, AIRCRAFT_STATS, FEATURE_TABLES, ORIGIN_WEATHER  # noqa: E402
from usecases.flight_delay.oracle import compute_feature_table_pandas  # noqa: E402

PERIODS = {
    "day": (date(2013, 7, 15), date(2013, 7, 15)),
    "month": (date(2013, 7, 1), date(2013, 7, 31)),
    "year": (date(2013, 1, 1), date(2013, 12, 31)),
}
QUARTER = (date(2013, 7, 1), date(2013, 9, 30))  # measured instead of the year when the year is too long
BRONZE = {"flights": "bronze.flights", "weather": "bronze.weather", "planes": "bronze.planes"}


@dataclass(frozen=True)
class Run:
    """One feature table computed by one engine over one period at one scale."""

    scale: int
    period: str
    engine: str
    table: str
    input_rows: int
    output_rows: int
    seconds: float
    peak_rss_mb: float
    note: str = "measured"
    identical: str = ""
    max_abs_diff: float = float("nan")


def input_ranges(table_name: str, first: date, last: date) -> dict[str, tuple[date, date]]:
    """Bronze inputs of a table over [first, last] and the date range of each that its job reads."""
    if table_name == ORIGIN_WEATHER.name:
        return {"weather": (first, last)}
    if table_name not in AGGREGATES:
        return {"flights": (first, last)}
    inputs = {"flights": (first - timedelta(days=AGGREGATES[table_name].lookback_days), last)}
    return {**inputs, "planes": (date.min, date.max)} if table_name == AIRCRAFT_STATS.name else inputs


def count_inputs(per_date: dict[str, pd.Series], table_name: str, first: date, last: date) -> int:
    """Bronze rows the table's job reads for [first, last] (from per-date row counts)."""
    total = 0
    for name, (lo, hi) in input_ranges(table_name, first, last).items():
        counts = per_date[name]
        total += int(counts[(counts.index >= lo) & (counts.index <= hi)].sum())
    return total


def timed(run: Callable[[], object]) -> tuple[object, float, float]:
    """(result, seconds, peak RSS MB of this process and its children, the Spark JVM included)."""
    with PeakRss() as rss:
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
    return result, seconds, rss.peak / 2**20


def spark_rows(spark, lakehouse: Lakehouse, settings, table_name: str, first: date, last: date):
    """The table's rows over [first, last] as Arrow: the per-day job for one day, else one range job."""
    if first == last:
        return compute_feature_table(spark, lakehouse, settings, table_name, first).toArrow()
    return compute_feature_range(spark, lakehouse, settings, table_name, first, last).toArrow()


def pandas_rows(lakehouse: Lakehouse, settings, table_name: str, first: date, last: date) -> pd.DataFrame:
    """The oracle's rows over [first, last]: bronze read with delta-rs, then one oracle call per day."""
    frames = {}
    for name, (lo, hi) in input_ranges(table_name, first, last).items():
        filters = None if name == "planes" else [("date", ">=", lo), ("date", "<=", hi)]
        frames[name] = lakehouse.read_pandas(BRONZE[name], filters=filters)
    lead = settings.features.prediction_lead_minutes
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return pd.concat([compute_feature_table_pandas(table_name, d, frames, lead_minutes=lead) for d in days])


def compare(spark_table, oracle: pd.DataFrame, keys: list[str]) -> tuple[str, float]:
    """("yes"/"no", max abs difference of numeric columns) between Spark's and the oracle's rows."""
    got = spark_table.to_pandas().sort_values(keys).reset_index(drop=True)
    want = oracle.sort_values(keys).reset_index(drop=True)
    if len(got) != len(want) or list(got.columns) != list(want.columns):
        return "no", float("inf")
    worst = 0.0
    for column in got.columns:
        a, b = got[column], want[column]
        if pd.api.types.is_datetime64_any_dtype(a):
            a, b = (pd.to_datetime(x, utc=True).astype("datetime64[ns, UTC]").astype("int64") / 1e9 for x in (a, b))
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                return "no", float("inf")
            diff = np.abs(x - y)[~np.isnan(x)]
            worst = max(worst, float(diff.max()) if diff.size else 0.0)
        elif not a.astype(str).equals(b.astype(str)):
            return "no", float("inf")
    try:
        pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-12)
    except AssertionError:
        return "no", worst
    return "yes", worst


def write_bronze(workdir: Path, scale: int) -> tuple[Lakehouse, dict[str, pd.Series]]:
    """Fresh bronze tables at `scale`; returns the lakehouse and each table's rows per `date`."""
    lakehouse = Lakehouse(str(workdir / f"lakehouse_{scale}"))
    shutil.rmtree(workdir / f"lakehouse_{scale}", ignore_errors=True)
    start = time.perf_counter()
    tables = scaled_bronze(scale)
    per_date = {}
    for name, table in tables.items():
        lakehouse.append(BRONZE[name], table, partition_by=None if name == "planes" else ["date"])
        per_date[name] = table.column("date").to_pandas().value_counts()
    rows = ", ".join(f"{n} {t.num_rows:,}" for n, t in tables.items())
    print(f"scale {scale}x: bronze {rows} written in {time.perf_counter() - start:.0f} s", flush=True)
    return lakehouse, per_date


def bench_period(ctx: dict, scale: int, period: str, first: date, last: date, pandas_too: bool) -> list[Run]:
    """Every table of one period with Spark (and pandas when asked), compared when both ran."""
    spark, lakehouse, settings, per_date = ctx["spark"], ctx["lakehouse"], ctx["settings"], ctx["per_date"]
    runs = []
    for table in FEATURE_TABLES:
        inputs = count_inputs(per_date, table.name, first, last)
        arrow, s_sec, s_rss = timed(lambda t=table: spark_rows(spark, lakehouse, settings, t.name, first, last))
        spark_run = Run(scale, period, "spark", table.short_name, inputs, arrow.num_rows, s_sec, s_rss)
        line = f"  {period:7} {table.short_name:16} spark {s_sec:7.1f} s"
        if pandas_too:
            oracle, p_sec, p_rss = timed(lambda t=table: pandas_rows(lakehouse, settings, t.name, first, last))
            same, diff = compare(arrow, oracle, [*table.keys, table.date_column])
            spark_run = replace(spark_run, identical=same, max_abs_diff=diff)
            runs.append(Run(scale, period, "pandas", table.short_name, inputs, len(oracle), p_sec, p_rss))
            line += f"  pandas {p_sec:7.1f} s  identical: {same} (max abs diff {diff:.3g})"
        runs.append(spark_run)
        print(line, flush=True)
    return runs


def extrapolate(runs: list[Run], days: tuple[int, int], inputs: dict[str, int], note: str) -> list[Run]:
    """Runs of a shorter period scaled to the year by days (output rows and time grow with the hours
    covered), with the year's actual input rows; labelled with how."""
    factor = days[1] / days[0]
    return [
        replace(r, period="year", input_rows=inputs[r.table], output_rows=round(r.output_rows * factor),
                seconds=r.seconds * factor, note=f"{note} x {days[1]}/{days[0]} days")
        for r in runs
    ]  # fmt: skip


def bench_year(ctx: dict, scale: int, done: list[Run], args: argparse.Namespace) -> list[Run]:
    """The year: measured in full when it fits the budget, else a quarter extrapolated by input rows."""
    first, last = PERIODS["year"]
    year_inputs = {t.short_name: count_inputs(ctx["per_date"], t.name, first, last) for t in FEATURE_TABLES}
    month = [r for r in done if (r.scale, r.period, r.engine) == (scale, "month", "spark")]
    predicted = sum(r.seconds / r.input_rows * year_inputs[r.table] for r in month) if month else 0.0
    said = f"{predicted / 60:.1f} min" if month else "unknown (no month measured at this scale)"
    print(f"  year: Spark time predicted from the month by input rows: {said}", flush=True)
    if args.year == "full" or (args.year == "auto" and predicted <= args.year_budget_min * 60):
        runs = bench_period(ctx, scale, "year", first, last, args.pandas_year)
    else:
        q_first, q_last = QUARTER
        quarter = bench_period(ctx, scale, "quarter", q_first, q_last, args.pandas_year)
        days = ((q_last - q_first).days + 1, (last - first).days + 1)
        runs = extrapolate(quarter, days, year_inputs, f"extrapolated from {q_first:%b}-{q_last:%b}")
    if not args.pandas_year:
        pandas_month = [r for r in done if (r.scale, r.period, r.engine) == (scale, "month", "pandas")]
        days = ((PERIODS["month"][1] - PERIODS["month"][0]).days + 1, (last - first).days + 1)
        runs += extrapolate(pandas_month, days, year_inputs, "extrapolated from the month (per-day oracle)")
    return runs


def _totals(runs: list[Run]) -> dict[tuple[int, str, str], Run]:
    """Per (scale, period, engine): the sum over tables (peak RSS: the max)."""
    out: dict[tuple[int, str, str], Run] = {}
    for r in runs:
        key = (r.scale, r.period, r.engine)
        if key not in out:
            out[key] = replace(r, table="all tables")
            continue
        t = out[key]
        out[key] = replace(
            t, input_rows=t.input_rows + r.input_rows, output_rows=t.output_rows + r.output_rows,
            seconds=t.seconds + r.seconds, peak_rss_mb=max(t.peak_rss_mb, r.peak_rss_mb),
            identical="no" if "no" in (t.identical, r.identical) else t.identical,
            max_abs_diff=max(t.max_abs_diff, r.max_abs_diff) if r.identical else t.max_abs_diff,
        )  # fmt: skip
    return out


def _row(r: Run, ratio: str) -> str:
    same = f"{r.identical:>4} {r.max_abs_diff:8.2g}" if r.identical else f"{'':>4} {'':>8}"
    return (
        f"{r.scale:>4}x {r.period:7} {r.engine:6} {r.table:16} {r.input_rows:>11,} {r.output_rows:>10,} "
        f"{r.seconds:8.1f} {r.input_rows / r.seconds:>10,.0f} {r.output_rows / r.seconds:>10,.0f} "
        f"{r.peak_rss_mb:>7,.0f} {ratio:>6} {same}  {r.note}"
    )


def print_report(runs: list[Run]) -> None:
    """Totals per scale/period/engine, the per-table detail, and the cost slopes."""
    totals = _totals(runs)
    header = (
        f"{'scale':>5} {'period':7} {'engine':6} {'table':16} {'input rows':>11} {'out rows':>10} {'seconds':>8} "
        f"{'in rows/s':>10} {'out rows/s':>10} {'RSS MB':>7} {'sp/pd':>6} {'same':>4} {'max diff':>8}  note"
    )
    for title, rows in (("Totals over the 6 feature tables", list(totals.values())), ("Per table", runs)):
        print(f"\n{title} (sp/pd: Spark seconds / pandas seconds; same: Spark rows == pandas oracle rows)")
        print(header + "\n" + "-" * len(header))
        for r in rows:
            other = totals if r.table == "all tables" else {(o.scale, o.period, o.engine, o.table): o for o in runs}
            key = (r.scale, r.period, "pandas") + (() if r.table == "all tables" else (r.table,))
            ratio = f"{r.seconds / other[key].seconds:.2f}" if r.engine == "spark" and key in other else ""
            print(_row(r, ratio))
    print_slopes(totals)


def _slope(a: Run, b: Run) -> str:
    """Marginal seconds per million input rows from a to b."""
    if b.input_rows == a.input_rows:
        return "n/a"
    return f"{(b.seconds - a.seconds) / (b.input_rows - a.input_rows) * 1e6:.2f}"


def print_slopes(totals: dict[tuple[int, str, str], Run]) -> None:
    """Seconds per million input rows: marginal between scales, and between periods, plus the average."""
    print("\nCost slope: marginal seconds per million input rows (all tables); avg = seconds / input rows")
    print(f"{'engine':6} {'between':26} {'s / M rows':>10}   {'avg at each end':>18}")
    scales = sorted({k[0] for k in totals})
    pairs = []
    for period in PERIODS:
        for engine in ("spark", "pandas"):
            pairs += [((s1, period, engine), (s2, period, engine)) for s1, s2 in pairwise(scales)]
    for scale in scales:
        for engine in ("spark", "pandas"):
            present = [p for p in PERIODS if (scale, p, engine) in totals]
            pairs += [((scale, p1, engine), (scale, p2, engine)) for p1, p2 in pairwise(present)]
    for a_key, b_key in pairs:
        if a_key not in totals or b_key not in totals:
            continue
        a, b = totals[a_key], totals[b_key]
        avg = " / ".join(f"{r.seconds / r.input_rows * 1e6:.2f}" for r in (a, b))
        what = f"{a.scale}x {a.period} -> {b.scale}x {b.period}"
        print(f"{a.engine:6} {what:26} {_slope(a, b):>10}   {avg:>18}")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run every scale and period, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1], help="replicas of flights (1 = 336,776 rows)")
    parser.add_argument("--periods", nargs="+", default=["day", "month"], choices=list(PERIODS))
    parser.add_argument("--year", choices=["auto", "full", "quarter"], default="auto", help="how the year is run")
    parser.add_argument("--year-budget-min", type=float, default=15.0, help="auto: longest full Spark year")
    parser.add_argument("--pandas-year", action="store_true", help="run the pandas oracle on the whole year too")
    parser.add_argument("--workdir", type=Path, default=None, help="where bronze is written (default: a temp dir)")
    parser.add_argument("--driver-memory", default="6g", help="Spark driver memory (local mode: the whole JVM)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-features-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings("dev")
    spark = get_spark(settings, app_name="bench-features", conf={"spark.driver.memory": args.driver_memory})
    started, load = time.perf_counter(), [psutil.getloadavg()]
    runs: list[Run] = []
    try:
        for scale in args.scales:
            lakehouse, per_date = write_bronze(workdir, scale)
            ctx = {"spark": spark, "lakehouse": lakehouse, "settings": settings, "per_date": per_date}
            bench_period(ctx, scale, "warm-up", *PERIODS["day"], pandas_too=False)  # JIT, codegen: not reported
            for period in [p for p in PERIODS if p in args.periods]:
                if period == "year":
                    runs += bench_year(ctx, scale, runs, args)
                else:
                    runs += bench_period(ctx, scale, period, *PERIODS[period], pandas_too=True)
                load.append(psutil.getloadavg())
            shutil.rmtree(workdir / f"lakehouse_{scale}", ignore_errors=True)
    finally:
        spark.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(runs)
    loads = ", ".join(f"{one:.1f}" for one, _, _ in load)
    print(f"\n{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; 1-min load average "
          f"at start and after each period: {loads}; total {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
