"""Every fenced code block of docs/usecases.md runs: bash in a temporary copy of the repository, python executed
(or, when it opens with a `# <path>` comment, compared with that file), yaml validated against the settings models."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "usecases.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = [
    (m.group(1), m.group(2), PAGE.read_text()[: m.start()].count("\n") + 1) for m in FENCE.finditer(PAGE.read_text())
]
# What `make usecase` reads and writes; the rest of the repository is not needed (the venv is the real one).
COPIED = ("Makefile", "scripts", "templates", "include/config", "usecases/__init__.py", "pyproject.toml")
STAMPED = ("requirements.txt", "requirements-dev.txt", "requirements-nodeps.txt", "constraints.txt")


def _blocks(language: str) -> list[tuple[str, int]]:
    return [(text, line) for lang, text, line in BLOCKS if lang == language]


def test_the_page_has_only_blocks_this_test_can_run():
    assert {lang for lang, _, _ in BLOCKS} <= {"bash", "python", "yaml"}
    assert _blocks("bash") and _blocks("python") and _blocks("yaml")


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """The files the scaffold needs, with the same install stamp as the real checkout and its .venv linked."""
    copy = tmp_path / "repo"
    for name in (*COPIED, *STAMPED):
        source, target = ROOT / name, copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    for package in ("include/mlops/__init__.py", "plugins/mlops_airflow/__init__.py"):  # part of the stamp
        (copy / package).parent.mkdir(parents=True, exist_ok=True)
        (copy / package).touch()
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


@pytest.mark.parametrize(("text", "line"), _blocks("bash"), ids=lambda v: f"line{v}" if isinstance(v, int) else None)
def test_each_bash_block_runs_in_a_copy_of_the_repository(repo_copy, text, line):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_USECASES")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=repo_copy, env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, f"docs/usecases.md line {line}:\n{result.stdout}\n{result.stderr}"
    if "make usecase NAME=churn" in text:
        assert (repo_copy / "usecases" / "churn" / "tests" / "test_features.py").is_file()
        for env_name in ("dev", "staging", "prod"):
            raw = yaml.safe_load((repo_copy / "include" / "config" / f"{env_name}.yaml").read_text())
            assert raw["usecases"]["packages"]["churn"] == "usecases.churn"


@pytest.mark.parametrize(("text", "line"), _blocks("python"), ids=lambda v: f"line{v}" if isinstance(v, int) else None)
def test_each_python_block_runs_or_is_an_excerpt_of_the_named_file(text, line, capsys):
    first, _, rest = text.partition("\n")
    excerpt = re.fullmatch(r"# (\S+\.py)", first)
    if excerpt:
        source = (ROOT / excerpt.group(1)).read_text()
        assert rest in source, f"docs/usecases.md line {line}: not an excerpt of {excerpt.group(1)}"
        return
    exec(compile(text, f"docs/usecases.md:{line}", "exec"), {"__name__": "guide"})
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(("text", "line"), _blocks("yaml"), ids=lambda v: f"line{v}" if isinstance(v, int) else None)
def test_each_yaml_block_is_valid_settings(text, line):
    from pydantic import BaseModel

    raw = yaml.safe_load(text)
    for section, values in raw.items():
        model = Settings.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), section
        model.model_validate(values)
    template = ROOT / "templates" / "usecase" / "template" / "config" / "dev.yaml.jinja"
    generated = yaml.safe_load(template.read_text())
    for section, values in raw.items():  # the values quoted are the template's
        assert {k: generated[section][k] for k in values} == values, f"docs/usecases.md line {line}: {section}"
