"""Model training cost: wall time and peak RSS at 1x and 10x data, and MLflow logging's share of the task.

Usage: .venv/bin/python -m benchmarks.bench_training --scales 1 10

1x is the staging-like window the tests use: 18 days (2013-01-01..18) of EWR flights, bronze and every
feature table built with the pandas oracle, then the real point-in-time training set (Spark). 10x is
synthetic: the 1x training frame replicated ten times, replicas k >= 1 with shifted flight numbers and
numeric features jittered by 5% of their spread (building 10x feature tables would dominate the run).
Each scale trains in a fresh process (restricted tuning with the staging budget, refit, evaluation and
permutation importance), so peak RSS is that process's own. At 1x the child also logs and registers the
run in a throwaway MLflow store; the MLflow share is log_and_register / (training set + fit + logging).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _synthetic(frame, scale: int, seed: int):
    import numpy as np
    import pandas as pd

    from mlops.training.estimator import feature_columns
    from usecases.flight_delay import usecase
    from usecases.flight_delay.model import CATEGORICAL

    rng = np.random.default_rng(seed)
    numeric = [c for c in feature_columns(usecase()) if c not in CATEGORICAL and c != "month"]
    parts = [frame]
    for k in range(1, scale):
        copy = frame.copy()
        copy["flight"] = copy["flight"] + k * 10_000
        spread = copy[numeric].std().fillna(0.0).to_numpy()
        copy[numeric] = copy[numeric].astype("float64") + rng.normal(size=(len(copy), len(numeric))) * spread * 0.05
        parts.append(copy)
    return pd.concat(parts, ignore_index=True).sort_values(["prediction_ts", "flight"], kind="stable")


def child(args: argparse.Namespace) -> None:
    """Train one scale in this process and print a JSON line of figures."""
    from mlops.config import load_settings
    from mlops.lakehouse import Lakehouse
    from mlops.training.estimator import TuningBudget
    from mlops.training.train import TrainingRequest, fit_and_evaluate, log_and_register

    training = pickle.loads(Path(args.frame).read_bytes())
    if args.scale > 1:
        training = replace(training, frame=_synthetic(training.frame, args.scale, seed=0).reset_index(drop=True))
    settings = load_settings("staging")
    budget = TuningBudget(settings.training.tuning_trials, settings.training.tuning_timeout_seconds)
    started = time.perf_counter()
    fitted = fit_and_evaluate(training, budget, settings.training.seed, settings.training.n_threads)
    fit = time.perf_counter() - started
    logging_seconds = None
    if args.log:
        started = time.perf_counter()
        request = TrainingRequest(training.window.end, training.window.days)
        log_and_register(Lakehouse(args.lake), settings, request, training, fitted, budget)
        logging_seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": len(training.frame),
                "fit": fit,
                "log": logging_seconds,
                "peak_mb": peak_mb,
                "roc_auc": fitted.evaluation.model.roc_auc,
                "trials": len(fitted.tuning.trials),
            }
        )
    )


def parent(args: argparse.Namespace, work: Path) -> None:
    """Build the 1x training set once, then train each scale in a child process."""
    os.environ["MLOPS_HOME"] = str(work)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    from mlops.config import load_settings
    from mlops.spark import get_spark
    from mlops.training.dataset import TrainingWindow, build_training_set
    from tests.unit._training import LAST, WINDOW_DAYS, training_lakehouse

    settings = load_settings("staging")
    lake = training_lakehouse(work / "lakehouse")
    spark = get_spark(settings, app_name="bench-training")
    started = time.perf_counter()
    training = build_training_set(spark, lake, settings, TrainingWindow.from_settings(settings, LAST, WINDOW_DAYS))
    build = time.perf_counter() - started
    spark.stop()
    path = work / "training.pkl"
    path.write_bytes(pickle.dumps(training))
    print(f"training set (PIT join, Spark): {len(training.frame)} rows in {build:.1f} s")
    header = ("scale", 5), ("rows", 8), ("fit+eval s", 10), ("peak RSS MB", 11), ("ROC AUC", 8), ("MLflow s", 8)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'MLflow share':>12}")
    for scale in args.scales:
        command = [
            sys.executable,
            "-m",
            "benchmarks.bench_training",
            "--child",
            "--scale",
            str(scale),
            "--frame",
            str(path),
            "--lake",
            lake.root,
        ]
        command += ["--log"] if scale == 1 else []
        out = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ, cwd=ROOT)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        share = ""
        if figures["log"] is not None:
            share = f"{figures['log'] / (build + figures['fit'] + figures['log']):.0%}"
        log_s = "" if figures["log"] is None else f"{figures['log']:.1f}"
        print(
            f"{scale:>5} {figures['rows']:>8} {figures['fit']:>10.1f} {figures['peak_mb']:>11.0f} "
            f"{figures['roc_auc']:>8.3f} {log_s:>8} {share:>12}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--frame", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    parser.add_argument("--log", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-training-") as work:
        parent(args, Path(work))


if __name__ == "__main__":
    main()
