"""The main job: replay a window of real data through the pipelines, as Airflow DAG runs, and summarise.

Run through `make run` (which prepares the virtualenv and environment). Each pipeline runs as an
Airflow DAG run in the metadata database (`dag.test`, the in-process runner behind
`airflow dags test`), so every run, task log and asset event is visible in the Airflow UI afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PIPELINES_PER_DAY = ("feature_refresh",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, help="first data date (default: config replay_start)")
    parser.add_argument("--days", type=int, help="number of days to replay (default: config replay_days)")
    args = parser.parse_args(argv)
    if args.days is not None and args.days < 1:
        parser.error(f"--days must be >= 1, got {args.days}")
    return args


@contextlib.contextmanager
def quiet(log_path: Path) -> Iterator[None]:
    """Send everything Airflow, Spark and the JVM print to `log_path`; keep the terminal for progress."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def say(message: str) -> None:
    print(message, flush=True)


def load_dags(log_path: Path) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    with quiet(log_path):
        bag = DagBag()
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            say(f"DAG import error in {path}:\n{error}")
        raise SystemExit(1)
    return bag.dags


def run_dag(dag, day: date, log_path: Path, conf: dict | None = None) -> str:
    """One DAG run for data date `day`; returns its final state."""
    logical = datetime(day.year, day.month, day.day, tzinfo=UTC)
    with quiet(log_path):
        run = dag.test(logical_date=logical, run_conf=conf)
    return str(getattr(run, "state", "unknown"))


def run_step(dags: dict, dag_id: str, day: date, log_path: Path, failures: list, conf: dict | None = None) -> bool:
    """Run one DAG and print one progress line; record a failure."""
    t0 = time.monotonic()
    state = run_dag(dags[dag_id], day, log_path, conf)
    say(f"  {dag_id:<18} {day}  {state:<8} {time.monotonic() - t0:6.1f}s")
    if state != "success":
        failures.append((dag_id, day.isoformat(), state))
    return state == "success"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mlops.config import load_settings, mlops_home
    from mlops.sources import land_range

    settings = load_settings()
    start = args.start or settings.data.replay_start
    days = args.days or settings.data.replay_days
    log_path = mlops_home() / "logs" / f"main_job_{settings.env}.log"
    say(f"Environment {settings.env}: replaying {days} day(s) from {start}; detailed log: {log_path}")

    started = time.monotonic()
    with quiet(log_path):
        landed = land_range(settings, start, days)
    say(f"Landed {len(landed)} file(s) under {settings.lakehouse.landing_root}")

    dags = load_dags(log_path)
    failures = []
    last = start + timedelta(days=days - 1)
    for offset in range(days):
        for dag_id in PIPELINES_PER_DAY:
            run_step(dags, dag_id, start + timedelta(days=offset), log_path, failures)
    if not failures:
        # Train on the whole replayed window (its last days are held out for evaluation).
        conf = {"window_end": last.isoformat(), "window_days": days, "reason": "main job"}
        trained = run_step(dags, "model_training", last + timedelta(days=1), log_path, failures, conf)
        version = latest_trained_version(settings) if trained else None
        if version:
            # The scheduler would start model_promotion from the model-registered asset event; dag.test
            # starts no downstream DAGs, so the main job passes the new version explicitly.
            run_step(dags, "model_promotion", last + timedelta(days=1), log_path, failures, {"version": version})
    summarise(settings, time.monotonic() - started, log_path)
    if failures:
        say(f"{len(failures)} DAG run(s) did not succeed: {failures}. See {log_path} and the Airflow UI.")
        return 1
    return 0


def summarise(settings, elapsed: float, log_path: Path) -> None:
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse.from_settings(settings)
    say(f"\nDone in {elapsed:.0f}s. Tables under {lakehouse.root}:")
    root = Path(lakehouse.root)
    for layer_dir in sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith("_")):
        for table_dir in sorted(p for p in layer_dir.glob("*") if (p / "_delta_log").is_dir()):
            name = f"{layer_dir.name}.{table_dir.name}"
            table = lakehouse.table(name)
            say(f"  {name:<32} version {table.version():>4}  rows {table.count():>9,}")
    say(f"Quality results and Data Docs: {root / '_quality'}")
    summarise_models(settings, lakehouse)
    say("Look at it: `make ui`, then Airflow at http://localhost:8080 and MLflow at http://localhost:5000")


def latest_trained_version(settings) -> str | None:
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse.from_settings(settings)
    if not lakehouse.exists("monitoring.training_runs"):
        return None
    versions = lakehouse.read_pandas("monitoring.training_runs", columns=["model_version"])["model_version"]
    return str(versions.astype(int).max()) if len(versions) else None


def summarise_models(settings, lakehouse) -> None:
    if not lakehouse.exists("monitoring.training_runs"):
        return
    runs = lakehouse.read_pandas("monitoring.training_runs")
    if runs.empty:
        return
    last = runs.loc[runs["model_version"].astype(int).idxmax()]
    say(
        f"Model {last['model_name']} v{last['model_version']}: held-out ROC AUC {last['test_roc_auc']:.3f} "
        f"vs baseline {last['baseline_roc_auc']:.3f} (MLflow run {last['run_id']}; experiment "
        f"{settings.mlflow.experiment_name}; {len(runs)} training run(s) in monitoring.training_runs)"
    )
    if lakehouse.exists("monitoring.cd_decisions"):
        decisions = lakehouse.read_pandas("monitoring.cd_decisions")
        say(f"Promotion decisions (monitoring.cd_decisions, {len(decisions)} rows):")
        columns = [c for c in ("version", "step", "check", "outcome", "value", "threshold") if c in decisions.columns]
        say(decisions[columns].to_string(index=False, max_colwidth=40))
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    try:
        champion = client.get_model_version_by_alias(settings.mlflow.model_name, "champion")
        say(f"Champion: {settings.mlflow.model_name} v{champion.version} (alias @champion in the MLflow registry)")
    except Exception as exc:  # noqa: BLE001 - MLflow raises RestException/MlflowException alike; report it
        say(f"No champion yet: {exc}")


if __name__ == "__main__":
    sys.exit(main())
