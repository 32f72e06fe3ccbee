"""The project installs as a package (pyproject.toml with a build system), and no code edits sys.path."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("dags", "plugins", "include", "scripts", "tests", "benchmarks", "usecases")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# list methods that change the list in place; sys.path.index or a copy of it are fine
MUTATORS = {"insert", "append", "extend", "remove", "pop", "clear", "reverse", "sort", "__setitem__", "__iadd__"}


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, ast.AugAssign | ast.AnnAssign):
        return [node.target]
    if isinstance(node, ast.Delete):
        return node.targets
    return []


def sys_path_edits(source: str, first_line: int = 1) -> list[tuple[int, str]]:
    """(line, code) of every statement that changes sys.path, also inside code held in string constants."""
    tree = ast.parse(source)
    sys_names, path_names = {"sys"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            sys_names.update(alias.asname for alias in node.names if alias.name == "sys" and alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            path_names.update(alias.asname or alias.name for alias in node.names if alias.name == "path")

    def is_path(node: ast.AST) -> bool:
        if isinstance(node, ast.Subscript):
            node = node.value
        if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name):
            return node.value.id in sys_names
        return isinstance(node, ast.Name) and node.id in path_names

    found = []
    for node in ast.walk(tree):
        edit = any(is_path(target) for target in _targets(node))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            edit |= node.func.attr in MUTATORS and is_path(node.func.value)
            edit |= node.func.attr == "addsitedir"  # site.addsitedir appends to sys.path
        if edit:
            found.append((first_line + node.lineno - 1, ast.unparse(node).splitlines()[0]))
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ("sys" in node.value or "site" in node.value)
        ):
            try:  # a script run in a child process (`python -c CODE`)
                found += sys_path_edits(node.value, first_line + node.lineno - 1)
            except SyntaxError:
                pass
    return found


def _python_files() -> list[Path]:
    files = []
    for folder in SCANNED:
        files += [p for p in sorted((ROOT / folder).rglob("*.py")) if "__pycache__" not in p.parts]
    return [p for p in files if p != Path(__file__).resolve()]  # this file holds examples of edits


def test_no_code_edits_sys_path():
    edits = [
        f"{path.relative_to(ROOT)}:{line}: {code}"
        for path in _python_files()
        for line, code in sys_path_edits(path.read_text())
    ]
    assert not edits, "the project is an installed package; import it instead of editing sys.path:\n" + "\n".join(edits)


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nsys.path.insert(0, 'include')",
        "import sys\nsys.path.append('include')",
        "import sys\nsys.path[:0] = ['include']",
        "import sys\nsys.path = ['include']",
        "import sys\nsys.path += ['include']",
        "import sys as s\ns.path.extend(['include'])",
        "from sys import path\npath.insert(0, 'include')",
        "import site\nsite.addsitedir('include')",
        'CHILD = """\nimport sys\nsys.path.insert(0, sys.argv[1])\n"""',
    ],
)
def test_sys_path_check_sees_an_edit(source):
    assert [line for line, _ in sys_path_edits(source)] == [len(source.rstrip('"').splitlines())]


@pytest.mark.parametrize(
    "source", ["import sys\nprint(sys.path)", "import sys\npaths = list(sys.path)", "p.insert(0, 1)"]
)
def test_sys_path_check_lets_reads_through(source):
    assert sys_path_edits(source) == []


def test_pyproject_has_a_build_system_and_finds_every_package():
    build = PYPROJECT["build-system"]
    assert build["build-backend"] == "setuptools.build_meta" and build["requires"]
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert {"include", "plugins", "."} <= set(find["where"])
    assert {"mlops", "mlops_airflow", "usecases"} <= set(find["include"])
    assert "pythonpath" not in PYPROJECT["tool"]["pytest"]["ini_options"]


def test_bootstrap_reinstalls_when_the_build_config_changes():
    stamp = next(line for line in (ROOT / "scripts" / "bootstrap.sh").read_text().splitlines() if "STAMP=" in line)
    assert "pyproject.toml" in stamp


def test_project_is_installed_editable_from_this_checkout(tmp_path):
    assert importlib.metadata.distribution("mlops-lakehouse").version == PYPROJECT["project"]["version"]
    # The installed one (site-packages), not the mlops_lakehouse.egg-info the build leaves in the checkout.
    installed = [d for d in importlib.metadata.distributions(name="mlops-lakehouse") if d.read_text("direct_url.json")]
    assert len(installed) == 1, "install the project: uv pip install --no-deps -e . (scripts/bootstrap.sh does)"
    direct_url = json.loads(installed[0].read_text("direct_url.json"))
    assert direct_url["dir_info"].get("editable") is True
    assert Path(direct_url["url"].removeprefix("file://")).resolve() == ROOT
    # A fresh interpreter outside the checkout, without PYTHONPATH, finds the packages in the checkout.
    probe = "import importlib.util as u; print(u.find_spec('mlops').origin); print(u.find_spec('mlops_airflow').origin)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    mlops, mlops_airflow = (Path(line) for line in out.stdout.split())
    assert mlops == ROOT / "include" / "mlops" / "__init__.py"
    assert mlops_airflow == ROOT / "plugins" / "mlops_airflow" / "__init__.py"
    import mlops as imported

    assert Path(imported.__file__).resolve().is_relative_to(ROOT)
