"""Shared test fixtures: an isolated MLOPS_HOME and AIRFLOW_HOME, one local SparkSession."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Isolate every test session from the developer's own state before Airflow or MLflow is imported.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="mlops-tests-"))
os.environ["MLOPS_HOME"] = str(_SESSION_HOME)
for _override in ("MLOPS_LAKEHOUSE_ROOT", "MLOPS_LANDING_ROOT", "MLOPS_SETTINGS"):
    os.environ.pop(_override, None)
os.environ["MLOPS_ENV"] = "staging"  # CI runs the staging config, whatever the shell exported
os.environ["AIRFLOW_HOME"] = str(_SESSION_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_SESSION_HOME / 'airflow' / 'airflow.db'}"
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_HOME / 'mlflow.db'}"
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable


@pytest.fixture(scope="session")
def session_home() -> Path:
    """The MLOPS_HOME of this test session."""
    return _SESSION_HOME


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test session."""
    from mlops.config import load_settings
    from mlops.spark import get_spark

    session = get_spark(load_settings("staging"), app_name="mlops-tests")
    yield session
    session.stop()


@pytest.fixture
def lakehouse(tmp_path):
    """An empty lakehouse under a temporary directory."""
    from mlops.lakehouse import Lakehouse

    return Lakehouse(str(tmp_path / "lakehouse"))


@pytest.fixture(scope="session")
def airflow_db(session_home):
    """A migrated Airflow metadata DB (SQLite) in the session's AIRFLOW_HOME, with the platform's pools."""
    import subprocess

    (session_home / "airflow").mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ)
    subprocess.run([sys.executable, "-m", "mlops_airflow.pools"], check=True, capture_output=True, env=os.environ)
    return session_home / "airflow" / "airflow.db"


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """The project's DAGs, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag


def pytest_sessionfinish(session, exitstatus):
    """Stop any SparkSession a DAG run created, while output streams are still open."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def pytest_collection_modifyitems(config, items):
    """Longest first: the topology test's files, then files with slow tests, then the rest.

    With `--dist loadfile --no-loadscope-reorder` (scripts/test.sh) xdist hands out whole files in this
    order, so the native topology test (mostly waiting on its services, ~12 min) starts at once beside
    the rest instead of last. xdist's default reorder (most tests first) started it 26 minutes into a
    45-minute run. A file's tests keep their order; the sort is stable.
    """
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        own = 0 if item.get_closest_marker("topology") else 1 if item.get_closest_marker("slow") else 2
        rank[module] = min(rank.get(module, own), own)
    items.sort(key=lambda item: rank[item.nodeid.split("::", 1)[0]])
