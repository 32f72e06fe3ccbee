"""Time of the raw quality gate on passing landing files, two ways each, side by side in one process.

Lands `--days` days of each built-in use case's datasets (dev config) into a temporary folder, then per
dataset, `--repeat` times, alternating:
1. one day's batch through `run_gate`: GX's BASIC result first (the gate's way; a failing batch is validated
   again with COMPLETE) vs COMPLETE always (before). Median seconds per gate run and their ratio.
2. the raw gate of a run over all `--days` days: each file validated on its own (`validate_landing` per day,
   Data Docs with the last, as before) vs all files as one batch (`validate_landing_dates`, the gate's way
   for a run of several dates). Median seconds per run and their ratio.

    .venv/bin/python -m benchmarks.bench_quality_gate --days 21 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

USECASES = {"flight_delay": date(2013, 1, 1), "bike_demand": date(2011, 3, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench_gate_"))
    os.environ.update(MLOPS_HOME=str(home), GX_ANALYTICS_ENABLED="false")

    from mlops.config import load_settings
    from mlops.landing import land_range, landing_path
    from mlops.landing_csv import read_landing_file
    from mlops.quality import gate
    from mlops.quality.suites import raw_suite
    from mlops.usecase import usecase_of

    batches = []
    for name, start in USECASES.items():
        settings = load_settings("dev", usecase=name)
        land_range(settings, start, args.days)
        for ds in usecase_of(settings).datasets:
            days = [start + timedelta(days=i) for i in range(args.days)]
            frames = [gate.to_gate_frame(read_landing_file(landing_path(settings, ds.name, d), ds)) for d in days]
            batches.append((f"{name}.{ds.name}", ds, days, frames))

    print(f"{'dataset':28} {'rows/day':>8} {'exp.':>5} {'COMPLETE s':>11} {'BASIC first s':>14} {'ratio':>6}")
    for label, ds, days, frames in batches:
        times: dict[str, list[float]] = {"COMPLETE": [], "BASIC": []}
        for _ in range(args.repeat):
            for first_pass in times:
                gate.FIRST_PASS_FORMAT = first_pass
                for day, frame in zip(days, frames, strict=True):
                    started = time.perf_counter()
                    result = gate.run_gate(
                        frame, raw_suite(ds, day), store_dir=home / "_quality" / first_pass, asset_name=label,
                        build_docs=False,
                    )  # fmt: skip
                    times[first_pass].append(time.perf_counter() - started)
                    assert result.success, result.message()
        complete, basic = (statistics.median(times[k]) for k in ("COMPLETE", "BASIC"))
        rows = statistics.median(len(f) for f in frames)
        print(
            f"{label:28} {rows:8.0f} {len(raw_suite(ds, days[0]).expectations):5d} "
            f"{complete:11.3f} {basic:14.3f} {complete / basic:6.2f}"
        )
    gate.FIRST_PASS_FORMAT = "BASIC"

    from mlops.ingestion import validate_landing, validate_landing_dates
    from mlops.lakehouse import Lakehouse

    print(f"\n{'dataset':28} {'days':>5} {'one by one s':>13} {'one batch s':>12} {'ratio':>6}")
    for label, ds, days, _ in batches:
        settings = load_settings("dev", usecase=label.split(".")[0])
        lakehouse = Lakehouse.from_settings(settings)
        runs: dict[str, list[float]] = {"each": [], "batch": []}
        for _ in range(args.repeat):
            started = time.perf_counter()
            for day in days:
                validate_landing(settings, ds.name, day, "bench", lakehouse=lakehouse, build_docs=day == days[-1])
            runs["each"].append(time.perf_counter() - started)
            started = time.perf_counter()
            assert validate_landing_dates(settings, lakehouse, ds.name, days, "bench") is not None
            runs["batch"].append(time.perf_counter() - started)
        each, batch = (statistics.median(runs[k]) for k in ("each", "batch"))
        print(f"{label:28} {len(days):5d} {each:13.2f} {batch:12.2f} {each / batch:6.2f}")


if __name__ == "__main__":
    main()
