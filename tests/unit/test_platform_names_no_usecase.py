"""The platform (include/mlops, plugins, dags) names no use case and none of a use case's data: the seam holds.

The forbidden words come from the use cases themselves (their names, datasets, landing columns, feature
tables, features, label), so a new use case is covered without editing this test. Words that are plain
English or generic time parts (`year`, `hour`, `model`, `type`, ...) are left out: they name nothing
specific to one use case.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops.config import enabled_usecases, load_settings
from mlops.usecase import usecase_of

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ("include/mlops", "plugins", "dags")
GENERIC = {
    "year", "month", "day", "hour", "minute", "date", "type", "model", "engine", "engines", "speed", "seats",
    "label", "time", "value", "name", "day_of_week", "features", "entity", "distance",
    "weekday", "holiday", "calendar", "registered",  # bike_demand's calendar and its members' rentals: plain English
}  # fmt: skip


def _usecase_words() -> set[str]:
    words: set[str] = set()
    for name in enabled_usecases("staging"):
        usecase = usecase_of(load_settings("staging", usecase=name))
        words |= {usecase.name, usecase.labels.column, *usecase.dataset_names}
        words |= {c.name for d in usecase.datasets for c in d.columns}
        words |= {t.short_name for t in usecase.features.tables}
        words |= {f.name for t in usecase.features.tables for f in t.features}
        words.add(usecase.entity.noun)
    return {w for w in words if w.lower() not in GENERIC and len(w) > 3}


def _platform_files() -> list[Path]:
    return sorted(p for folder in PLATFORM for p in (ROOT / folder).rglob("*.py"))


def _hits(words: set[str]) -> list[str]:
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")s?\b", re.I)
    found = []
    for path in _platform_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = pattern.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:90]}")
    return found


def test_platform_code_names_no_use_case_nor_its_data():
    words = _usecase_words()
    assert "flights" in words or len(words) > 10, words  # the scan really looks for something
    assert _hits(words) == []


def test_the_scan_finds_a_use_case_word_in_platform_code(tmp_path, monkeypatch):
    planted = ROOT / "plugins" / "mlops_airflow" / "_planted_for_test.py"
    word = sorted(_usecase_words())[0]
    planted.write_text(f'"""Reads {word} directly."""\n')
    try:
        assert any("_planted_for_test.py:1" in hit for hit in _hits(_usecase_words()))
    finally:
        planted.unlink()


@pytest.mark.parametrize("folder", PLATFORM)
def test_platform_never_imports_a_use_case_package(folder):
    imports = re.compile(r"^\s*(from|import)\s+usecases\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py") if imports.search(p.read_text())]
    assert offenders == []
