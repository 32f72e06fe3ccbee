"""`make usecase`: the scaffold refuses bad names writing nothing, registers in every environment, and what it
generates passes its own tests as it is. That it runs through every pipeline of the main job with no edit, beside
a built-in use case, is tests/integration/test_main_job_side_by_side.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.new_usecase import ENVIRONMENTS, register, registered_names

ROOT = Path(__file__).resolve().parents[2]
NAME = "scaffold_probe"


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
