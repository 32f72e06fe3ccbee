"""The main job (`make run`): two use cases side by side into one Airflow DB (a built-in one and one the
scaffold just generated), their summaries whole and in order; how a window splits into training and scoring,
and a window too short to train."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.config import TrainingSettings
from scripts import main_job
from scripts.main_job import parse_args, plan_replay

ROOT = Path(__file__).resolve().parents[2]
USECASES = ("bike_demand", "scaffold_side")  # a built-in use case, then one `make usecase` generates
SCAFFOLDED = USECASES[1]
PIPELINES = {"feature_refresh", "model_training", "model_promotion", "batch_inference", "model_monitoring"}


def _training(validation: int = 3, test: int = 7, window: int = 28) -> TrainingSettings:
    return TrainingSettings(validation_days=validation, test_days=test, train_window_days=window)


@pytest.mark.parametrize(
    ("days", "score_days", "scored", "window"),
    [
        (54, 5, 5, 28),  # bike's dev window: three weeks of history only, then 28 to train on
        (28, 7, 7, 21),  # as many as asked once MIN_TRAIN_DAYS are left to train on
        (16, 7, 2, 14),  # scoring gives way to MIN_TRAIN_DAYS of training
        (12, 7, 0, 12),  # too short to score: trains on it all
        (29, 0, 0, 28),
        (10, 7, 0, 0),  # under validation + test + 1 = 11: features only
    ],
)
def test_a_window_splits_into_training_then_scoring(days, score_days, scored, window):
    plan = plan_replay(days, score_days, _training())
    assert (plan.score_days, plan.window_days, plan.train_days) == (scored, window, days - scored)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--days", "0"], "--days must be >= 1, got 0"),
        (["--score-days", "-1"], "--score-days must be >= 0, got -1"),
        (["--usecase", "bike_demand", "--one-at-a-time"], "not allowed with argument"),
    ],
)
def test_bad_arguments_are_refused_naming_the_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_use_case_not_enabled_is_refused_naming_the_enabled_ones(capsys):
    assert main_job.main(["--usecase", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Refused --usecase 'nope': not enabled in staging" in err and "flight_delay, bike_demand" in err


def test_a_window_too_short_to_train_refreshes_features_and_trains_nothing(monkeypatch, tmp_path, capsys):
    steps: list[tuple[str, date, dict | None]] = []

    def run_step(dags, dag_id, day, log_path, failures, conf=None):
        steps.append((dag_id, day, conf))
        return True

    monkeypatch.setattr(main_job, "run_step", run_step)
    settings = SimpleNamespace(usecase="uc", training=_training())
    plan = plan_replay(3, 7, settings.training)
    failures = main_job.run_usecase({}, settings, date(2013, 1, 1), plan, tmp_path / "log")
    assert failures == []
    assert steps == [("uc.feature_refresh", date(2013, 1, 1), {"days": 3})]
    out = capsys.readouterr().out
    assert "too few days to train (validation_days + test_days + 1 = 11): features refreshed, no model trained" in out


def test_side_by_side_prints_each_output_whole_in_order_and_counts_failures(monkeypatch, capfd):
    """The second replay finishes first and fails: its output still follows the first's, whole."""
    scripts = {
        "a": "import time; print('a starts', flush=True); time.sleep(1.5); print('a done')",
        "b": "import sys; print('b starts'); print('b done'); sys.exit(3)",
    }
    popen = subprocess.Popen

    def fake_popen(command, **kwargs):
        return popen([sys.executable, "-c", scripts[command[command.index("--usecase") + 1]]], **kwargs)

    monkeypatch.setattr(main_job.subprocess, "Popen", fake_popen)
    assert main_job.run_side_by_side(["a", "b"], ["--score-days", "7"]) == 1
    out = capfd.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("a ", "b "))]
    assert lines == ["a starts", "a done", "b starts", "b done"], out
    assert "The replay of b exited with code 3" in out


def _env(home: Path, generated: Path) -> dict[str, str]:
    """An isolated MLOPS_HOME, Airflow and MLflow; staging with bike demand and the scaffold's use case enabled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AIRFLOW_HOME", "MLFLOW_"))}
    return {
        **env,
        "MLOPS_HOME": str(home),
        "MLOPS_ENV": "staging",
        "MLOPS_USECASES": ",".join(USECASES),
        "MLOPS_SETTINGS": json.dumps({"usecases": {"packages": {SCAFFOLDED: SCAFFOLDED}}}),
        "PYTHONPATH": str(generated),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(1200)  # ~7 min on the shared 2-core machine: 6 DAG runs per use case, two at a time
def test_a_built_in_and_a_just_scaffolded_use_case_run_side_by_side_through_every_pipeline(tmp_path):
    """`make usecase` then the main job with no edit: the new use case and bike demand, side by side in one
    Airflow and one MLflow, each through every pipeline, each summary whole and in order."""
    from mlflow import MlflowClient

    from mlops.lakehouse import Lakehouse

    generated, home = tmp_path / "generated", tmp_path / "home"
    scaffold = [sys.executable, "-m", "scripts.new_usecase", SCAFFOLDED, "--dest", str(generated), "--no-register"]
    subprocess.run(scaffold, cwd=ROOT, check=True, capture_output=True, timeout=300)
    env = _env(home, generated)
    (home / "airflow").mkdir(parents=True)
    for module in ("airflow", "mlops_airflow.pools", "mlops.tracking"):
        args = [sys.executable, "-m", module, *(["db", "migrate"] if module == "airflow" else [])]
        subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    # The shortest window both train on (bike: 240 training hours after 3 validation and 3 test days),
    # promote, score and monitor: one 17-day feature run, then one scored day.
    job = subprocess.run(
        [sys.executable, "-m", "scripts.main_job", "--days", "18", "--score-days", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1100,
    )  # fmt: skip
    assert job.returncode == 0, job.stdout[-4000:] + job.stderr[-2000:]
    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        runs = db.execute("select dag_id, state from dag_run").fetchall()
    for name in USECASES:
        assert {d.split(".", 1)[1] for d, _ in runs if d.startswith(f"{name}.")} == PIPELINES, runs
    assert {state for _, state in runs} == {"success"}, runs
    out = job.stdout
    first, second = (out.index(f"\n== {name}: replaying 18 day(s)") for name in USECASES)
    assert first < second
    for name, block in zip(USECASES, (out[first:second], out[second:]), strict=True):
        other = next(n for n in USECASES if n != name)
        assert f"{other}." not in block, f"{other}'s lines inside {name}'s summary"
        for part in ("Done in", f"Champion: {name}_staging v1", "Predictions (gold.predictions", "Monitoring ("):
            assert part in block, (name, part, block)
    for name in USECASES:
        log = home / "logs" / f"main_job_staging_{name}.log"
        text = log.read_text()
        assert text, f"{log} is empty"
        assert "database is locked" not in text
    # The scaffolded use case's own tables and model, as its README promises.
    lakehouse = Lakehouse(str(home / "staging" / "lakehouse" / SCAFFOLDED))
    for table in ("bronze.activity", "features.customer_days", "features.activity_7d", "features.activity_28d"):
        assert lakehouse.table(table).count() > 0, table
    predictions = lakehouse.read_pandas("gold.predictions")
    assert predictions["entity_date"].nunique() == 1 and len(predictions) == 200  # staging: 200 customers
    assert lakehouse.table("monitoring.feature_drift").count() > 0
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    for name in USECASES:
        champion = client.get_model_version_by_alias(f"{name}_staging", "champion")
        assert str(champion.version) == "1", name  # the client returns the version as a number or a string
