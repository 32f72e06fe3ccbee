"""Imports point one way: dags -> plugins/mlops_airflow -> include/mlops; the core never imports Airflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE_FILES = sorted((ROOT / "include" / "mlops").rglob("*.py"))
PLUGIN_FILES = sorted((ROOT / "plugins" / "mlops_airflow").rglob("*.py"))
USECASE_FILES = sorted((ROOT / "usecases").rglob("*.py"))


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_never_imports_airflow_or_plugins(path):
    assert not _imported_roots(path) & {"airflow", "mlops_airflow"}


@pytest.mark.parametrize("path", USECASE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_use_case_module_uses_the_core_only(path):
    # A use case is plain Python over the core's contract: it runs under Airflow, never inside it.
    assert not _imported_roots(path) & {"airflow", "mlops_airflow"}


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_module_never_imports_dags(path):
    dag_modules = {p.stem for p in (ROOT / "dags").glob("*.py")}
    assert not _imported_roots(path) & dag_modules


def test_layering_check_sees_an_airflow_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from airflow.sdk import dag\n")
    assert "airflow" in _imported_roots(probe)
