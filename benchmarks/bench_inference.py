"""Batch scoring throughput, Delta -> Delta, per engine and scale, beside in-memory predict_proba.

For each scale, a scoring set of 336,776 x scale rows (the 2013 flights from `datagen.scaled_flights`,
schedule features from the flights, the other model inputs drawn with realistic null shares) is written
to staging.scoring_set as one date, and a HistGradientBoosting pipeline of the production shape (150
rounds, 31 leaves, fitted on 50k rows) is logged and registered like a trained model. Then, each in a
fresh process so peak RSS is its own (process + Spark JVM):
- `memory`: the rows already in memory as model inputs, `predict_proba` of the fitted pipeline: the
  physical limit of scoring on this machine (no I/O, no conversion).
- `arrow`: `mlops.inference.score(..., "arrow")` end to end: stream record batches from the Delta table
  through the pyfunc model and into staging.predictions (one commit).
- `spark`: `mlops.inference.score(..., "spark")` end to end: `mlflow.pyfunc.spark_udf` over the table's
  files, then the commit (delta-rs without the delta-spark jars). SparkSession start-up is excluded.
Module imports happen before timing (a task pays them once at start-up). Prints seconds, rows/s, the
ratio to `memory` and peak RSS.

    .venv/bin/python -m benchmarks.bench_inference --scales 1 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from usecases.flight_delay import usecase

USECASE = usecase()

ROOT = Path(__file__).resolve().parents[1]

DAY = date(2013, 6, 1)
MODEL_NAME = "bench_inference"
MODES = ("memory", "arrow", "spark")


def scoring_frame(scale: int, seed: int = 0):
    """The benchmark scoring set: real schedule columns, other inputs random with realistic null shares."""
    import numpy as np

    from benchmarks.datagen import scaled_flights
    from mlops.inference.scoring_set import input_columns, key_columns

    flights = scaled_flights(scale, seed)
    rng = np.random.default_rng(seed)
    n = len(flights)
    out = flights[["year", "month", "day", "carrier", "flight", "origin"]].copy()
    out["prediction_ts"] = flights["time_hour"] - np.timedelta64(2, "h")
    out["entity_date"] = DAY
    sched = flights["sched_dep_time"].to_numpy()
    known = {
        "dest": flights["dest"].astype(object),
        "distance": flights["distance"].astype("float64"),
        "sched_dep_hour": (sched // 100).astype("float64"),
    }
    for column in input_columns(USECASE):
        if column in known:
            out[column] = known[column]
            continue
        values = rng.gamma(2.0, 10.0, n)
        values[rng.random(n) < 0.2] = np.nan
        out[column] = values
    for column in ("carrier", "origin", "dest"):
        out[column] = out[column].astype(object)
    return out[[*key_columns(USECASE), "entity_date", *input_columns(USECASE)]]


def prepare(workdir: Path, scale: int) -> dict:
    """Write the scoring set and register the model; returns what the measuring processes need."""
    import mlflow
    import numpy as np
    import pyarrow as pa

    from mlops.lakehouse import Lakehouse
    from mlops.training.estimator import build_estimator, model_inputs
    from mlops.training.track import log_model

    frame = scoring_frame(scale)
    lake = Lakehouse(str(workdir / f"lake{scale}"))
    lake.append("staging.scoring_set", pa.Table.from_pandas(frame, preserve_index=False), partition_by=["entity_date"])
    sample = frame.sample(50_000, random_state=0)
    logit = 0.02 * sample["distance"].fillna(0) / 100 + 0.1 * sample["sched_dep_hour"] - 1.5
    label = (np.random.default_rng(1).random(len(sample)) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 0.0}
    model = build_estimator(USECASE, params, max_iter=150, seed=0).fit(model_inputs(sample, USECASE), label)
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    with mlflow.start_run():
        info = log_model(model, sample)
    version = mlflow.register_model(info.model_uri, MODEL_NAME).version
    return {"lake": lake.root, "rows": len(frame), "version": str(version), "tracking": mlflow.get_tracking_uri()}


def child(mode: str, spec: dict) -> dict:
    """One measurement in this (fresh) process."""
    import mlflow
    import mlflow.pyfunc  # noqa: F401 - module imports are a process's start-up cost, not scoring time
    from mlflow import MlflowClient

    from benchmarks.bench_lakehouse import PeakRss
    from mlops.inference import ScoreRequest, ScoringModel, prediction_output, score
    from mlops.lakehouse import Lakehouse

    os.environ["PYSPARK_PYTHON"] = sys.executable
    mlflow.set_tracking_uri(spec["tracking"])
    lake = Lakehouse(spec["lake"])
    mv = MlflowClient().get_model_version(MODEL_NAME, spec["version"])
    model = ScoringModel(MODEL_NAME, spec["version"], mv.run_id, "version")
    request = ScoreRequest(model, DAY, 0.5, "bench", prediction_output(USECASE), batch_rows=spec["batch_rows"])
    spark = None
    if mode == "spark":
        from mlops.config import load_settings
        from mlops.spark import get_spark

        settings = load_settings("dev")
        memory = {"driver_memory": spec["driver_memory"]}
        settings = settings.model_copy(update={"spark": settings.spark.model_copy(update=memory)})
        spark = get_spark(settings, app_name="bench-inference")
        spark.range(10).count()  # the JVM is up before timing
    if mode == "memory":
        import mlflow.sklearn

        from mlops.inference.engines import model_signature
        from mlops.training.estimator import model_input_frame

        signature = model_signature(model)
        inputs = model_input_frame(lake.read_pandas("staging.scoring_set"), list(signature), signature)
        pipeline = mlflow.sklearn.load_model(model.uri)
    with PeakRss() as rss:
        started = time.perf_counter()
        if mode == "memory":
            rows = len(pipeline.predict_proba(inputs))
        else:
            rows = score(lake, request, mode, spark).rows
        seconds = time.perf_counter() - started
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_rss_mb": rss.peak / 2**20}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--batch-rows", type=int, default=131_072, help="arrow engine batch size")
    parser.add_argument("--driver-memory", default="8g", help="Spark driver memory (the commit collects to it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, spec = args.child.split(":", 1)
        print("RESULT " + json.dumps(child(mode, json.loads(spec))), flush=True)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as folder:
        for scale in args.scales:
            print(f"scale {scale}: preparing the scoring set and model ...", flush=True)
            spec = {**prepare(Path(folder), scale), "batch_rows": args.batch_rows, "driver_memory": args.driver_memory}
            for mode in args.modes:
                command = [sys.executable, "-m", "benchmarks.bench_inference", "--child", f"{mode}:{json.dumps(spec)}"]
                done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
                line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    raise SystemExit(f"{mode} at {scale}x failed:\n{done.stderr[-3000:]}")
                result = {**json.loads(line[7:]), "scale": scale}
                print(
                    f"  {mode:7} {result['seconds']:8.2f} s {result['rows'] / result['seconds']:>12,.0f} rows/s",
                    flush=True,
                )
                results.append(result)
    print(
        f"\n{'scale':>5} {'engine':7} {'rows':>10} {'seconds':>8} {'rows/s':>11} {'vs memory':>9} {'peak RSS MB':>11}"
    )
    for r in results:
        base = next(x for x in results if x["scale"] == r["scale"] and x["mode"] == "memory")
        ratio = (r["rows"] / r["seconds"]) / (base["rows"] / base["seconds"])
        print(
            f"{r['scale']:>5} {r['mode']:7} {r['rows']:>10,} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>11,.0f} "
            f"{ratio:>8.2f}x {r['peak_rss_mb']:>11,.0f}"
        )


if __name__ == "__main__":
    main()
