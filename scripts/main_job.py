"""The main job: replay a window of real data through the pipelines, as Airflow DAG runs, and summarise.

Run through `make run` (which prepares the virtualenv and environment). Each pipeline runs as an
Airflow DAG run in the metadata database (`dag.test`, the in-process runner behind
`airflow dags test`), so every run, task log and asset event is visible in the Airflow UI afterwards.
The enabled use cases run side by side, one subprocess each (`--usecase NAME`), the first one's progress
shown live and each other's printed whole once the ones before it are done; `--one-at-a-time` runs them
in turn in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

PIPELINES_PER_DAY = ("feature_refresh",)
SCORE_DAYS = 5  # by default the window's last five days are scored by the model trained on the weeks before them
MIN_TRAIN_DAYS = 14  # scoring gives way to at least this many days of history and training
HISTORY_RUN_DAYS = 28  # dates per feature_refresh run before the first model (the DAG's `days` param allows 31)
INFERENCE_CONF = {"date": None, "model_version": "champion", "engine": "config"}
# Both use cases write the same SQLite Airflow and MLflow databases. SQLite lets one writer in at a time and
# Python's driver waits 5 s for the lock before raising "database is locked": too short when the other
# process commits a task's state or a registered model meanwhile on a loaded 2-core machine.
SQLITE_BUSY_TIMEOUT_SECONDS = 60
_DAGS: dict = {}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, help="first data date (default: config replay_start)")
    parser.add_argument("--days", type=int, help="number of days to replay (default: config replay_days)")
    parser.add_argument(
        "--score-days",
        type=int,
        default=SCORE_DAYS,
        help=f"last days of the window scored day by day; the rest is history and training (default {SCORE_DAYS})",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--usecase", metavar="NAME", help="run only this enabled use case, in this process")
    mode.add_argument(
        "--one-at-a-time", action="store_true", help="run the use cases in turn in this process, not side by side"
    )
    args = parser.parse_args(argv)
    if args.days is not None and args.days < 1:
        parser.error(f"--days must be >= 1, got {args.days}")
    if args.score_days < 0:
        parser.error(f"--score-days must be >= 0, got {args.score_days}")
    return args


@dataclass(frozen=True)
class ReplayPlan:
    """How a window of `days` splits: history and training first, then `score_days` scored day by day.

    `window_days` is the training window (ending on the last training day); 0 when the days before scoring
    are too few to train (`training.validation_days + test_days + 1`), and only features are refreshed.
    """

    days: int
    score_days: int
    window_days: int
    min_window_days: int

    @property
    def train_days(self) -> int:
        """Days before the scored ones: the features' history, the training window at their end."""
        return self.days - self.score_days


def plan_replay(days: int, score_days: int, training) -> ReplayPlan:
    """Split a `days` window given the requested `score_days` and the use case's `settings.training`.

    Scoring gives way to training: at most `days - max(MIN_TRAIN_DAYS, minimum window)` days are scored,
    so a short window trains on all of it rather than scoring with no model.
    """
    min_window = training.validation_days + training.test_days + 1
    scored = max(0, min(score_days, days - max(MIN_TRAIN_DAYS, min_window)))
    window = min(days - scored, training.train_window_days)
    return ReplayPlan(days, scored, window if window >= min_window else 0, min_window)


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
    state = str(getattr(run, "state", "unknown"))
    if state == "success" and not _task_count(run):
        return "no tasks ran"  # e.g. a logical date before the DAG's start_date: Airflow calls that a success
    return state


def _task_count(run) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskInstance).filter(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        return query.count()


def run_step(dags: dict, dag_id: str, day: date, log_path: Path, failures: list, conf: dict | None = None) -> bool:
    """Run one DAG and print one progress line; record a failure."""
    t0 = time.monotonic()
    state = run_dag(dags[dag_id], day, log_path, conf)
    span = f"{day} +{conf['days'] - 1}d" if conf and conf.get("days", 1) > 1 else f"{day}    "
    say(f"  {dag_id:<30} {span}  {state:<8} {time.monotonic() - t0:6.1f}s")
    if state != "success":
        failures.append((dag_id, day.isoformat(), state))
    return state == "success"


def log_path_of(env: str, name: str) -> Path:
    """The detailed log (Airflow, Spark, the JVM) of one use case's replay."""
    from mlops.config import mlops_home

    return mlops_home() / "logs" / f"main_job_{env}_{name}.log"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mlops.config import current_env, enabled_usecases

    names, env = enabled_usecases(), current_env()
    if args.usecase:
        if args.usecase not in names:
            enabled = ", ".join(names) or "none"
            print(f"Refused --usecase {args.usecase!r}: not enabled in {env} (enabled: {enabled})", file=sys.stderr)
            return 2
        return replay_usecase(args.usecase, args)
    logs = ", ".join(str(log_path_of(env, name)) for name in names)
    mode = "one at a time" if args.one_at_a_time or len(names) < 2 else "side by side"
    say(f"Environment {env}: use cases {', '.join(names) or '(none enabled)'}, {mode}; detailed logs: {logs}")
    if args.one_at_a_time:
        failed = sum(replay_usecase(name, args) != 0 for name in names)
    else:
        failed = run_side_by_side(names, child_args(args))
    say("Look at it: `make ui`, then Airflow at http://localhost:8080 and MLflow at http://localhost:5000")
    return 1 if failed else 0


def child_args(args: argparse.Namespace) -> list[str]:
    """The window options a `--usecase` subprocess gets (the same as this run's)."""
    window = ["--start", args.start.isoformat()] if args.start else []
    window += ["--days", str(args.days)] if args.days else []
    return [*window, "--score-days", str(args.score_days)]


def run_side_by_side(names: Sequence[str], window: list[str]) -> int:
    """One `--usecase` subprocess per use case, all at once; returns how many failed.

    The first one's output goes straight to the terminal; the others' are kept in temporary files and
    printed whole, in order, once the ones before them are done, so outputs never interleave.
    """
    from mlops.config import current_env

    env = {**os.environ, **sqlite_busy_timeout_env()}
    children: list[tuple[subprocess.Popen, IO[bytes] | None]] = []
    try:
        for index, name in enumerate(names):
            buffer = tempfile.TemporaryFile() if index else None
            command = [sys.executable, "-m", "scripts.main_job", "--usecase", name, *window]
            stdout = buffer if buffer else None
            stderr = subprocess.STDOUT if buffer else None
            children.append((subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr), buffer))
        failed = 0
        for name, (child, buffer) in zip(names, children, strict=True):
            code = child.wait()
            if buffer:
                buffer.seek(0)
                sys.stdout.flush()
                sys.stdout.buffer.write(buffer.read())
                sys.stdout.flush()
            if code:
                say(f"The replay of {name} exited with code {code}; see {log_path_of(current_env(), name)}")
                failed += 1
        return failed
    finally:
        for child, buffer in children:
            if child.poll() is None:  # interrupted: stop the replays still running
                child.terminate()
                child.wait()
            if buffer:
                buffer.close()


def sqlite_busy_timeout_env() -> dict[str, str]:
    """Airflow's and MLflow's SQLite URLs with a busy timeout, for processes writing them at the same time.

    pysqlite takes `timeout` from the URL's query (seconds to wait for another connection's write lock). The
    URLs come from the environment, as `scripts/env.sh` exports them; any other backend is left as it is.
    """
    env = {}
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "MLFLOW_TRACKING_URI"):
        url = os.environ.get(key, "")
        if url.startswith("sqlite:") and "timeout=" not in url:
            env[key] = f"{url}{'&' if '?' in url else '?'}timeout={SQLITE_BUSY_TIMEOUT_SECONDS}"
    return env


def replay_usecase(name: str, args: argparse.Namespace) -> int:
    """Land the window, replay it through the use case's DAGs and summarise; 0 when every run succeeded."""
    from mlops.config import load_settings
    from mlops.landing import land_range

    settings = load_settings(usecase=name)
    log_path = log_path_of(settings.env, name)
    start = args.start or settings.data.replay_start
    days = args.days or settings.data.replay_days
    plan = plan_replay(days, args.score_days, settings.training)
    say(f"\n== {name}: replaying {days} day(s) from {start}, the last {plan.score_days} scored ==")
    started = time.monotonic()
    with quiet(log_path):
        landed = land_range(settings, start, days)
    say(f"Landed {len(landed)} file(s) under {settings.lakehouse.landing_root}")
    if not _DAGS:  # parsed once per process: --one-at-a-time replays every use case with one DagBag
        _DAGS.update(load_dags(log_path))
    failures = run_usecase(_DAGS, settings, start, plan, log_path)
    summarise(settings, time.monotonic() - started, log_path)
    if failures:
        say(f"{len(failures)} DAG run(s) of {name} did not succeed: {failures}. See {log_path} and the Airflow UI.")
        return 1
    return 0


def run_usecase(dags: dict, settings, start: date, plan: ReplayPlan, log_path: Path) -> list:
    """Features for the window, training on its first part, promotion, then daily features, scoring, monitoring."""
    failures: list = []
    pipeline = {p: f"{settings.usecase}.{p}" for p in ("model_training", "model_promotion", "batch_inference")}
    pipeline["model_monitoring"] = f"{settings.usecase}.model_monitoring"
    per_day = [f"{settings.usecase}.{p}" for p in PIPELINES_PER_DAY]
    train_days = plan.train_days
    # The history before the first model: feature_refresh runs of up to four weeks (the `days` param; the
    # tables end up exactly as after daily runs, in a fraction of the time). The scored days run one by one.
    for offset in range(0, train_days, HISTORY_RUN_DAYS):
        days_in_run = min(HISTORY_RUN_DAYS, train_days - offset)
        for dag_id in per_day:
            run_step(dags, dag_id, start + timedelta(days=offset), log_path, failures, {"days": days_in_run})
    if not failures and not plan.window_days:
        say(
            f"  too few days to train (validation_days + test_days + 1 = {plan.min_window_days}): "
            "features refreshed, no model trained"
        )
        return failures
    if not failures:
        # Train on the first part of the window (its last days held out for evaluation), deploy, then
        # replay the rest the way production runs: each day's features, then that day's predictions.
        # The training window is at most the configured one: days before it are the features' history only.
        trained_to = start + timedelta(days=train_days - 1)
        conf = {"window_end": trained_to.isoformat(), "window_days": plan.window_days, "reason": "main job"}
        day = trained_to + timedelta(days=1)
        trained = run_step(dags, pipeline["model_training"], day, log_path, failures, conf)
        version = version_awaiting_cd(settings) if trained else None
        if version:
            # The scheduler would start model_promotion from the model-registered asset event; dag.test
            # starts no downstream DAGs, so the main job passes the new version explicitly. A second run
            # on unchanged data and code registers nothing (the training fingerprint matches the version CD
            # already decided), so there is nothing to promote either.
            run_step(dags, pipeline["model_promotion"], day, log_path, failures, {"version": version})
    if not failures:
        for offset in range(train_days, plan.days):
            day = start + timedelta(days=offset)
            for dag_id in per_day:
                # days=1 said again: in-process dag.test runs share the DAG's Param objects (see below).
                run_step(dags, dag_id, day, log_path, failures, {"days": 1})
            # A full conf each time: in-process dag.test runs share the DAG's Param objects.
            run_step(dags, pipeline["batch_inference"], day, log_path, failures, dict(INFERENCE_CONF))
            run_step(dags, pipeline["model_monitoring"], day, log_path, failures)
    return failures


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
    say(f"Quality results and Data Docs: {Path(settings.lakehouse.reports_root) / '_quality'}")
    summarise_models(settings, lakehouse)
    summarise_predictions(settings, lakehouse)
    from mlops.usecase import usecase_of

    summarise_monitoring(lakehouse, usecase_of(settings).model.task, settings.monitoring.ignore_features)


def latest_trained_version(settings) -> str | None:
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse.from_settings(settings)
    if not lakehouse.exists("monitoring.training_runs"):
        return None
    versions = lakehouse.read_pandas("monitoring.training_runs", columns=["model_version"])["model_version"]
    return str(versions.astype(int).max()) if len(versions) else None


def version_awaiting_cd(settings) -> str | None:
    """The latest trained version if CD has not decided it yet (what the model-registered event would promote)."""
    from mlflow import MlflowClient

    from mlops.registry.transitions import cd_pending

    version = latest_trained_version(settings)
    if version is None:
        return None
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    return version if cd_pending(client.get_model_version(settings.mlflow.model_name, version)) else None


def summarise_models(settings, lakehouse) -> None:
    if not lakehouse.exists("monitoring.training_runs"):
        return
    runs = lakehouse.read_pandas("monitoring.training_runs")
    if runs.empty:
        return
    from mlops.task_metrics import primary_metric
    from mlops.usecase import usecase_of

    last = runs.loc[runs["model_version"].astype(int).idxmax()]
    primary = primary_metric(usecase_of(settings).model.task)
    say(
        f"Model {last['model_name']} v{last['model_version']}: held-out {primary.label} "
        f"{last['test_' + primary.name]:.3f} vs baseline {last['baseline_' + primary.name]:.3f} (MLflow run "
        f"{last['run_id']}; experiment {settings.mlflow.experiment_name}; {len(runs)} training run(s) in "
        "monitoring.training_runs)"
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


def summarise_predictions(settings, lakehouse) -> None:
    """Predictions per date and, since the replay knows the labels, their out-of-time primary metric."""
    if not lakehouse.exists("gold.predictions"):
        return
    from mlops.usecase import ENTITY_DATE, usecase_of

    predictions = lakehouse.read_pandas("gold.predictions")
    if predictions.empty:
        return
    usecase = usecase_of(settings)
    keys, label, source = list(usecase.entity.keys), usecase.labels.column, usecase.labels.source
    first, last = predictions[ENTITY_DATE].min(), predictions[ENTITY_DATE].max()
    rows = lakehouse.read_pandas(source, filters=[("date", ">=", first), ("date", "<=", last)])
    labels = usecase.labels.pandas(rows)[[*keys, label]].drop_duplicates(keys)
    scored = predictions.merge(labels, on=keys, how="left")
    say(f"Predictions (gold.predictions, {len(predictions):,} rows; labels from {source}):")
    if usecase.model.task == "binary":
        _binary_predictions(scored, label)
    else:
        _task_predictions(scored, usecase)


def _binary_predictions(scored, label: str) -> None:
    from sklearn.metrics import roc_auc_score

    from mlops.usecase import ENTITY_DATE

    say(f"  {'date':<11} {'version':>7} {'rows':>6} {'mean p':>7} {'flagged':>7} {label:>7.7} {'ROC AUC':>7}")
    for (day, version), part in scored.groupby([ENTITY_DATE, "model_version"]):
        y = part[label].fillna(1).astype(int)
        auc = roc_auc_score(y, part["probability"]) if y.nunique() == 2 else float("nan")
        say(
            f"  {day!s:<11} {'v' + str(version):>7} {len(part):>6} {part['probability'].mean():>7.3f} "
            f"{part['decision'].mean():>7.1%} {y.mean():>7.1%} {auc:>7.3f}"
        )


def _task_predictions(scored, usecase) -> None:
    """Multiclass and regression: rows, labelled rows and the primary metric per date and version."""
    import numpy as np

    from mlops.task_metrics import compute_metrics, primary_metric
    from mlops.usecase import ENTITY_DATE

    task, label, classes = usecase.model.task, usecase.labels.column, usecase.model.classes
    primary = primary_metric(task)
    say(f"  {'date':<11} {'version':>7} {'rows':>6} {'labelled':>8} {primary.label:>10}")
    for (day, version), part in scored.groupby([ENTITY_DATE, "model_version"]):
        known = part[part[label].notna()]
        value = float("nan")
        if len(known):
            scores = known["prediction"] if task == "regression" else np.vstack(known["probabilities"].to_numpy())
            value = compute_metrics(task, known[label].to_numpy(), scores, classes)[primary.name]
        say(f"  {day!s:<11} {'v' + str(version):>7} {len(part):>6} {len(known):>8} {value:>10.3f}")


def summarise_monitoring(lakehouse, task, ignored=()) -> None:
    """Drifted columns (calendar inputs not counted, as in the dataset rule) and the primary metric of the
    trailing performance window per monitored day."""
    if not lakehouse.exists("monitoring.feature_drift"):
        return
    from mlops.task_metrics import primary_metric

    primary = primary_metric(task)
    drift = lakehouse.read_pandas("monitoring.feature_drift")
    drift = drift[~drift["feature"].isin(list(ignored))]
    perf = lakehouse.read_pandas("monitoring.model_performance")
    window = perf[perf["granularity"] == "window"].set_index("monitoring_date")
    say("Monitoring (monitoring.feature_drift, monitoring.model_performance; reports under _reports/drift):")
    heading = f"window {primary.label}"
    say(f"  {'date':<11} {'drifted columns (of ' + str(drift['feature'].nunique()) + ')':<52} {heading:>14}")
    for day, rows in drift.groupby("monitoring_date"):
        names = ", ".join(rows.loc[rows["drifted"], "feature"].tolist()[:6]) or "-"
        value = window[primary.name].get(day, float("nan"))
        say(f"  {day!s:<11} {str(int(rows['drifted'].sum())) + ': ' + names:<52.52} {value:>14.3f}")
    if lakehouse.exists("monitoring.drift_signals"):
        signals = lakehouse.read_pandas("monitoring.drift_signals")
        say(f"Drift signals (monitoring.drift_signals): {len(signals)}")
        for row in signals.itertuples():
            say(f"  {row.monitoring_date} {row.kind:<16} {row.status:<9} {row.detail[:70]}")


if __name__ == "__main__":
    sys.exit(main())
