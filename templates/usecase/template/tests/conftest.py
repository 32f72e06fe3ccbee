"""Fixtures of the use case's own tests: an isolated MLOPS_HOME and one local SparkSession.

Run them with `make test ARGS=<path of this folder>` (or `python -m pytest <path>`).
"""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

# Nothing a test writes reaches the developer's own state (tables, MLflow) or a shell's overrides.
os.environ["MLOPS_HOME"] = tempfile.mkdtemp(prefix="mlops-usecase-tests-")
os.environ["MLOPS_ENV"] = "staging"
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{os.environ['MLOPS_HOME']}/mlflow.db"
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
for _override in ("MLOPS_LAKEHOUSE_ROOT", "MLOPS_LANDING_ROOT", "MLOPS_REPORTS_ROOT"):
    os.environ.pop(_override, None)


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the session (the platform's staging Spark settings)."""
    from mlops.config import load_settings
    from mlops.spark import get_spark

    session = get_spark(load_settings("staging"), app_name="usecase-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lake(spark, tmp_path_factory):
    """Bronze and every feature table of three synthetic weeks (FIRST..LAST), built once; read-only."""
    from ._lake import FIRST, LAST, build_lakehouse

    return build_lakehouse(spark, tmp_path_factory.mktemp("lake"), FIRST, LAST)


def pytest_configure(config):
    """The marks these tests use (the platform's pytest configuration declares them too)."""
    config.addinivalue_line("markers", "spark: needs a local SparkSession")
