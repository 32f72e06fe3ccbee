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


SOURCE_FILES = [*CORE_FILES, *PLUGIN_FILES, *sorted((ROOT / "dags").glob("*.py"))]
MAX_EXECUTE_LINES = 15  # an operator's execute: a few hook calls and one core function


def test_module_names_are_unique_across_core_plugins_and_dags():
    seen: dict[str, list[str]] = {}
    for path in SOURCE_FILES:
        if path.name != "__init__.py":
            seen.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT / "include").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(path: Path) -> set[str]:
    """mlops modules imported when `path` is imported (function bodies and TYPE_CHECKING blocks excluded)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else ():
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0 and sub.module.startswith("mlops."):
                found.add(sub.module)
            elif isinstance(sub, ast.Import):
                found.update(a.name for a in sub.names if a.name.startswith("mlops."))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE_FILES}
    graph = {}
    for name, path in modules.items():
        # importing a.b.c runs a/__init__ and a/b/__init__ first: edges to the parent packages too
        targets = set()
        for imported in _module_level_imports(path):
            parts = imported.split(".")
            targets.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
        graph[name] = {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    return graph


def test_the_core_has_no_import_cycles():
    assert _cycles(_import_graph()) == []


def test_the_cycle_check_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("path", sorted((ROOT / "dags").glob("*.py")), ids=lambda p: p.stem)
def test_dag_files_pass_task_outputs_as_xcomargs_not_jinja_pulls(path):
    assert "xcom_pull" not in path.read_text()


def _execute_lengths() -> dict[str, int]:
    lengths = {}
    for path in sorted((ROOT / "plugins" / "mlops_airflow" / "operators").glob("*.py")):
        for cls in (n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)):
            for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "execute"):
                body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) else fn.body  # without the docstring
                lengths[f"{path.stem}.{cls.name}"] = body[-1].end_lineno - body[0].lineno + 1
    return lengths


def test_operators_execute_in_a_few_lines_calling_the_core():
    lengths = _execute_lengths()
    assert len(lengths) >= 10
    assert {name: n for name, n in lengths.items() if n > MAX_EXECUTE_LINES} == {}
