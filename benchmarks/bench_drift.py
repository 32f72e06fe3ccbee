"""Drift computation time: our binned statistics vs Evidently's data drift preset on the same columns.

Reference: 100,000 rows of the benchmark scoring set (`bench_inference.scoring_frame`: the 2013 flights
with every model input). Current: 100,000 and 1,000,000 rows (replicas of 2013 with a third of the
numeric inputs shifted by 10 % and one category re-weighted, so some columns drift and some do not).
Per size, each side computes per-column drift on all model inputs with the same statistics, normalised
Wasserstein for numeric and Jensen-Shannon for categorical columns (thresholds 0.1):
- ours: the reference profile (built once at training time, not timed), then binning the current data in
  Arrow batches (`BinCounter`) and the statistics from counts (`dataset_drift`); timed from an in-memory
  Arrow table and, separately, streamed from a Delta table (what the monitoring task does);
- Evidently 0.7: `Report([DataDriftPreset(num_method="wasserstein", cat_method="jensenshannon")])`
  on the two pandas frames (raw values).
A small warm-up run of both sides comes first (imports, first calls). Prints seconds, the speed-up, how
many per-column drift decisions agree and the largest difference between the distances.

    .venv/bin/python -m benchmarks.bench_drift --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")

from usecases.flight_delay import usecase  # noqa: E402 - after DO_NOT_TRACK
from usecases.flight_delay.model import CATEGORICAL  # noqa: E402

USECASE = usecase()

REFERENCE_ROWS = 100_000


def frames(current_rows: int):
    import numpy as np

    from benchmarks.bench_inference import scoring_frame
    from mlops.inference.scoring_set import input_columns

    columns = [c for c in ("carrier", "origin", *input_columns(USECASE)) if c != "entity_date"]
    scale = max(1, -(-current_rows // 336_776))
    data = scoring_frame(scale, seed=1)[columns]
    reference = data.sample(REFERENCE_ROWS, random_state=0).reset_index(drop=True)
    current = data.sample(current_rows, random_state=1, replace=current_rows > len(data)).reset_index(drop=True)
    numeric = [c for c in columns if c not in CATEGORICAL]
    for column in numeric[: len(numeric) // 3]:
        current[column] = current[column] * 1.1
    rng = np.random.default_rng(2)
    flip = rng.random(len(current)) < 0.2
    current.loc[flip, "carrier"] = "UA"
    return reference, current, columns


def ours(reference, current, columns, lake_root: Path) -> tuple[float, float, dict]:
    import pyarrow as pa

    from mlops.lakehouse import Lakehouse
    from mlops.monitoring.drift import Thresholds, dataset_drift
    from mlops.monitoring.profile import BinCounter, profile_frame

    profiles = profile_frame(reference, CATEGORICAL, bins=100, top=30, columns=columns)
    thresholds = Thresholds(psi=10.0, wasserstein=0.1, jensen_shannon=0.1)  # decide on the distances, as Evidently
    table = pa.Table.from_pandas(current, preserve_index=False)

    def run(batches) -> dict:
        counters = {p.name: BinCounter(p) for p in profiles}
        for batch in batches:
            for name, counter in counters.items():
                counter.add(batch.column(name))
        result = dataset_drift(profiles, {n: c.profile() for n, c in counters.items()}, thresholds, drifted_share=0.5)
        return {f.feature: (f.distance, f.drifted) for f in result.features}

    started = time.perf_counter()
    found = run(table.to_batches(max_chunksize=131_072))
    in_memory = time.perf_counter() - started
    lake = Lakehouse(str(lake_root))
    lake.append("monitoring.bench_current", table)
    started = time.perf_counter()
    dataset = lake.table("monitoring.bench_current").to_pyarrow_dataset()
    run(dataset.scanner(columns=columns, batch_size=131_072, batch_readahead=1).to_batches())
    from_delta = time.perf_counter() - started
    return in_memory, from_delta, found


def evidently(reference, current, columns) -> tuple[float, dict]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c in columns if c not in CATEGORICAL], categorical_columns=list(CATEGORICAL)
    )
    started = time.perf_counter()
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    report = Report([DataDriftPreset(columns=columns, num_method="wasserstein", cat_method="jensenshannon")])
    snapshot = report.run(current_data=cur, reference_data=ref)
    seconds = time.perf_counter() - started
    found = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        column = config.get("column")
        if column in columns and isinstance(metric.get("value"), (int, float)):
            threshold = config.get("threshold") or 0.1
            found[column] = (float(metric["value"]), float(metric["value"]) >= threshold)
    return seconds, found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)
    rows = []
    warm_ref, warm_cur, warm_cols = frames(1_000)
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as folder:  # imports and first calls, not timed
        ours(warm_ref.head(5_000), warm_cur, warm_cols, Path(folder) / "lake")
    evidently(warm_ref.head(5_000), warm_cur, warm_cols)
    for size in args.sizes:
        reference, current, columns = frames(size)
        with tempfile.TemporaryDirectory(prefix="bench-drift-") as folder:
            mem, delta, mine = ours(reference, current, columns, Path(folder) / "lake")
        theirs_s, theirs = evidently(reference, current, columns)
        common = sorted(set(mine) & set(theirs))
        agree = sum(mine[c][1] == theirs[c][1] for c in common)
        gap = max((abs(mine[c][0] - theirs[c][0]) for c in common), default=float("nan"))
        rows.append((size, len(columns), mem, delta, theirs_s, agree, len(common), gap))
        print(f"{size:>9,} rows: ours {mem:.2f} s (Delta {delta:.2f} s), Evidently {theirs_s:.2f} s", flush=True)
    print(f"\n{'current rows':>12} {'columns':>7} {'ours s':>7} {'ours Delta s':>12} {'Evidently s':>11} "
          f"{'speed-up':>8} {'same decision':>13} {'max |distance diff|':>19}")  # fmt: skip
    for size, n, mem, delta, theirs_s, agree, common, gap in rows:
        print(f"{size:>12,} {n:>7} {mem:>7.2f} {delta:>12.2f} {theirs_s:>11.2f} {theirs_s / mem:>7.1f}x "
              f"{f'{agree}/{common}':>13} {gap:>19.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
