"""`make usecase`: the scaffold refuses bad names writing nothing, registers in every environment, and what it
generates passes its own tests and runs through every pipeline of the main job as it is."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.new_usecase import ENVIRONMENTS, register, registered_names

ROOT = Path(__file__).resolve().parents[2]
NAME = "scaffold_probe"
SCORED_DAYS = 2


def _scaffold(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts.new_usecase", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A use case rendered by the scaffold into a temporary folder (a top-level package there)."""
    dest = tmp_path_factory.mktemp("generated")
    result = _scaffold(NAME, "--dest", str(dest), "--no-register")
    assert result.returncode == 0, result.stderr
    return dest


@pytest.mark.parametrize("name", ["Churn", "churn-model", "1churn", "c", "class", "flight_delay", "bike_demand", ""])
def test_a_bad_or_taken_name_is_refused_and_writes_nothing(tmp_path, name):
    result = _scaffold(name, "--dest", str(tmp_path), "--no-register")
    assert result.returncode == 2
    assert result.stderr.startswith(f"Refused use-case name {name!r}: "), result.stderr
    assert ("already registered" in result.stderr) == (name in ("flight_delay", "bike_demand"))
    assert list(tmp_path.iterdir()) == []


def test_registration_adds_the_package_to_every_environment_keeping_comments(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "include" / "config", config)
    before = {env: (config / f"{env}.yaml").read_text() for env in ENVIRONMENTS}
    register("churn", "usecases.churn", config)
    for env in ENVIRONMENTS:
        text = (config / f"{env}.yaml").read_text()
        raw = yaml.safe_load(text)
        assert raw["usecases"]["packages"]["churn"] == "usecases.churn"
        assert "churn" not in raw["usecases"]["enabled"]
        assert set(before[env].splitlines()) <= set(text.splitlines())  # every line kept, comments included
    assert {"churn", "flight_delay", "bike_demand"} <= registered_names(config)


def test_the_generated_package_is_lint_clean_and_holds_every_part(generated):
    package = generated / NAME
    parts = {"datasets.py", "source.py", "features.py", "compute.py", "labels.py", "model.py", "config", "tests"}
    assert parts <= {p.name for p in package.iterdir()}
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(package)], capture_output=True)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.slow
def test_the_generated_packages_own_tests_pass_without_an_edit(generated):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"{NAME}/tests", "-q", "-p", "no:xdist", "-p", "no:cacheprovider"],
        cwd=generated, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def _main_job_env(generated: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AIRFLOW_HOME", "MLFLOW_"))}
    return {
        **env,
        "MLOPS_HOME": str(home),
        "MLOPS_ENV": "dev",
        "MLOPS_USECASES": NAME,
        "MLOPS_SETTINGS": json.dumps({"usecases": {"packages": {NAME: NAME}}}),
        "PYTHONPATH": str(generated),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }


@pytest.mark.slow
@pytest.mark.integration
def test_the_generated_usecase_runs_through_every_pipeline_of_the_main_job(generated, tmp_path):
    from mlflow import MlflowClient

    from mlops.lakehouse import Lakehouse

    env = _main_job_env(generated, tmp_path / "home")
    (tmp_path / "home" / "airflow").mkdir(parents=True)
    for module in ("airflow", "mlops_airflow.pools", "mlops.tracking"):
        args = [sys.executable, "-m", module, *(["db", "migrate"] if module == "airflow" else [])]
        subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    # 16 days: 14 of history and training (the template's train window), then 2 scored and monitored days;
    # every pipeline runs, in a fraction of the default 21-day replay's time.
    days = ["--days", str(SCORED_DAYS + 14), "--score-days", str(SCORED_DAYS)]
    command = [sys.executable, "-m", "scripts.main_job", *days]
    job = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=800)
    assert job.returncode == 0, job.stdout[-4000:]
    with sqlite3.connect(tmp_path / "home" / "airflow" / "airflow.db") as db:
        runs = db.execute("select dag_id, state from dag_run where dag_id like ?", (f"{NAME}.%",)).fetchall()
    pipelines = {d.split(".", 1)[1] for d, _ in runs}
    assert {"feature_refresh", "model_training", "model_promotion", "batch_inference", "model_monitoring"} <= pipelines
    assert {state for _, state in runs} == {"success"}, runs
    lakehouse = Lakehouse(str(tmp_path / "home" / "dev" / "lakehouse" / NAME))
    for table in ("bronze.activity", "features.customer_days", "features.activity_7d", "features.activity_28d"):
        assert lakehouse.table(table).count() > 0, table
    predictions = lakehouse.read_pandas("gold.predictions")
    assert predictions["entity_date"].nunique() == SCORED_DAYS and len(predictions) == SCORED_DAYS * 300
    assert lakehouse.table("monitoring.feature_drift").count() > 0
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias(f"{NAME}_dev", "champion")
    assert str(champion.version) == "1"  # MLflow's client returns the version as a number or a string
