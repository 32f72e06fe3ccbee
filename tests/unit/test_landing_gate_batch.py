"""The raw gate of a run over several dates validates all their landing files as one GX batch: it passes only
when each file would pass its own suite, and any failure falls back to one file at a time, which names and
quarantines the bad file exactly as a one-day run does."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.ingestion import validate_landing, validate_landing_dates
from mlops.lakehouse import Lakehouse
from mlops.landing import landing_path
from mlops.quality.pipeline_gates import GateFailedError, quality_store, run_gate_dates
from mlops.quality.suites import raw_range_suite, raw_suite
from usecases.flight_delay.datasets import FLIGHTS, PLANES, WEATHER
from usecases.flight_delay.source import land_day

START = date(2013, 1, 2)
DATES = [START + timedelta(days=i) for i in range(4)]
BAD = DATES[2]


@pytest.fixture
def settings(tmp_path):
    """Staging settings (EWR only), landing zone and lakehouse in tmp_path, four days landed."""
    lake = LakehouseSettings(
        root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"), reports_root=str(tmp_path / "r")
    )
    base = load_settings("staging")  # files are read as soon as landed: the landing protocol has its own tests
    quality = base.quality.model_copy(update={"landing_stable_seconds": 0})
    settings = base.model_copy(update={"lakehouse": lake, "quality": quality})
    for day in DATES:
        land_day(settings, day)
    return settings


@pytest.fixture
def lake(settings) -> Lakehouse:
    return Lakehouse.from_settings(settings)


def _results(settings, dataset: str) -> list[Path]:
    return sorted((quality_store(settings) / f"raw_{dataset}" / "results").rglob("*.json"))


def _edit(settings, dataset: str, day: date, edit) -> None:
    """Rewrite one landing file's CSV lines through `edit(header, rows) -> rows`."""
    path = landing_path(settings, dataset, day)
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *edit(header.split(","), rows)]) + "\n")


def test_good_files_pass_as_one_batch_with_one_stored_result(settings, lake):
    for ds in (FLIGHTS, WEATHER, PLANES):
        result = validate_landing_dates(settings, lake, ds.name, DATES, "run-1")
        assert result is not None and result.success, ds.name
        assert result.suite_name == f"raw_{ds.name}" and result.evaluated == len(
            raw_range_suite(ds, DATES).expectations
        )
        assert result.rows == sum(validate_landing(settings, ds.name, d, "one", lakehouse=lake).rows for d in DATES)
        stored = [json.loads(p.read_text()) for p in _results(settings, ds.name)]
        assert len(stored) == 1 + len(DATES)  # the batch's result, then one per file validated on its own
    # One expectation of the range suite for each of a file's own (its row count, date parts and time window
    # checked against each row's own file); planes is a snapshot with the same keys every day, and passes.
    assert len(raw_range_suite(FLIGHTS, DATES).expectations) == len(raw_suite(FLIGHTS, START).expectations)


def _set(column: str, value: str, row: int = 3):
    def edit(header, rows):
        i = header.index(column)
        cells = rows[row].split(",")
        cells[i] = value
        rows[row] = ",".join(cells)
        return rows

    return edit


def _duplicate_row(header, rows):
    return [*rows, rows[0]]


# Each breaks one expectation of one file's own suite that only holds per file (its date, its keys).
FAULTS = {
    "another day's date parts": ("flights", _set("day", str(BAD.day + 1))),
    "a time two days after the file's date": ("flights", _set("time_hour", f"{BAD + timedelta(days=2)}T06:00:00Z")),
    "a key twice in one file": ("weather", _duplicate_row),
    "a value out of range": ("weather", _set("humid", "150.0")),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_file_its_own_suite_refuses_fails_the_batch_storing_nothing(settings, lake, fault):
    dataset, edit = FAULTS[fault]
    _edit(settings, dataset, BAD, edit)
    assert validate_landing_dates(settings, lake, dataset, DATES, "run-1") is None
    assert _results(settings, dataset) == []
    with pytest.raises(GateFailedError) as refused:
        run_gate_dates("landing", settings, lake, dataset, DATES, "run-1")
    assert str(refused.value).startswith(f"{BAD}: ") and f"date={BAD}" in str(refused.value)
    assert not landing_path(settings, dataset, BAD).exists()  # quarantined, as a one-day run does
    assert all(landing_path(settings, dataset, d).exists() for d in DATES if d != BAD)


def test_a_missing_file_falls_back_and_is_named(settings, lake):
    landing_path(settings, "weather", BAD).unlink()
    assert validate_landing_dates(settings, lake, "weather", DATES, "run-1") is None
    with pytest.raises(FileNotFoundError, match=f"No landing file for weather {BAD}"):
        run_gate_dates("landing", settings, lake, "weather", DATES, "run-1")


def test_a_run_of_several_dates_reports_one_batch(settings, lake):
    summary = run_gate_dates("landing", settings, lake, "flights", DATES, "run-1")
    assert summary["days"] == len(DATES) and len(summary["results"]) == 1
    assert summary["results"][0]["rows"] > 100 * len(DATES) and summary["results"][0]["data_docs_path"]
