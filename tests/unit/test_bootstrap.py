"""The quick start stops with one clear sentence when a prerequisite is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash")


def _bootstrap(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BASH, "-c", f"source {ROOT / 'scripts' / 'bootstrap.sh'}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def _bin_with(tmp_path: Path, **tools: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in tools.items():
        (bin_dir / name).symlink_to(target)
    for needed in ("dirname", "cat", "sha256sum", "cut", "grep", "rm", "touch"):
        (bin_dir / needed).symlink_to(shutil.which(needed))
    return str(bin_dir)


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_bootstrap_without_java_names_what_to_install(tmp_path):
    path = _bin_with(tmp_path, **{"python3.11": sys.executable})
    result = _bootstrap(tmp_path, {"PATH": path, "HOME": os.environ.get("HOME", "/tmp")})
    assert result.returncode == 1
    assert "Java 17 is required by Spark" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_bootstrap_with_wrong_python_names_what_to_install(tmp_path):
    fake = tmp_path / "python3.10"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    path = _bin_with(tmp_path, java=shutil.which("java") or "/bin/false")
    result = _bootstrap(tmp_path, {"PATH": path, "PYTHON": str(fake), "HOME": os.environ.get("HOME", "/tmp")})
    assert result.returncode == 1
    assert "Python 3.11 is required" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
