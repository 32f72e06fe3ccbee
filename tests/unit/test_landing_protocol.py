"""The landing protocol: a file is taken only when complete (done marker, or unchanged for the stable window)."""

from __future__ import annotations

import os
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.ingestion import QUARANTINE_TABLE, ingest_day, read_landing_file
from mlops.lakehouse import Lakehouse
from mlops.landing import (
    LandingFileIncomplete,
    LandingObservation,
    done_marker,
    is_temporary_name,
    landing_path,
    landing_state,
    observe,
)
from usecases.flight_delay.datasets import FLIGHTS
from usecases.flight_delay.source import land_day

DAY = date(2013, 1, 2)
STABLE = 1.0


def _look(at: float, size: int | None = 10, mtime: float | None = 0.0, marker: bool = False) -> LandingObservation:
    return LandingObservation(at=at, size=size, mtime=mtime, marker=marker)


@pytest.mark.parametrize(
    ("looks", "now", "state"),
    [
        ([_look(5.0, size=None, mtime=None)], 5.0, "absent"),
        ([_look(5.0, size=None, mtime=None, marker=True)], 5.0, "absent"),  # a marker without its file
        ([_look(0.5, mtime=0.0)], 0.5, "growing"),  # changed 0.5 s ago
        ([_look(1.0, mtime=0.0)], 1.0, "complete"),  # unchanged for the whole window
        ([_look(0.1, mtime=0.0, marker=True)], 0.1, "complete"),  # the done marker: complete at once
        ([_look(0.0, mtime=-5.0), _look(2.0, size=20, mtime=-5.0)], 2.5, "growing"),  # size moved, mtime lagged
        ([_look(0.0, mtime=-5.0), _look(2.0, size=20, mtime=-5.0), _look(3.0, size=20, mtime=-5.0)], 3.0, "complete"),
        ([_look(0.0, size=None, mtime=None), _look(0.5, mtime=-60.0)], 0.5, "complete"),  # renamed in, old mtime
        ([_look(0.0, mtime=0.0), _look(2.0, size=None, mtime=None)], 2.0, "absent"),  # gone again
    ],
)
def test_landing_state_from_looks(looks, now, state):
    assert landing_state(looks, now, STABLE) == state


def test_landing_state_window_zero_takes_any_present_file():
    assert landing_state([_look(0.0, mtime=0.0)], 0.0, 0) == "complete"


@pytest.mark.parametrize(("looks", "stable"), [([], 1.0), ([_look(0.0)], -1.0)])
def test_landing_state_rejects_bad_arguments(looks, stable):
    with pytest.raises(ValueError, match="observation|stable_seconds"):
        landing_state(looks, 0.0, stable)


@pytest.mark.parametrize(
    ("name", "temporary"),
    [
        ("flights.csv", False),
        (".flights.csv.abc.tmp", True),
        ("_flights.csv", True),
        ("flights.csv.part", True),
        ("flights.csv.inprogress", True),
        ("flights.csv.tmp", True),
    ],
)
def test_is_temporary_name(name, temporary):
    assert is_temporary_name(name) is temporary


def test_observe_sees_size_mtime_and_marker(tmp_path):
    path = tmp_path / "flights.csv"
    assert not observe(path).present
    path.write_bytes(b"abc")
    seen = observe(path)
    assert (seen.size, seen.mtime, seen.marker) == (3, path.stat().st_mtime, False)
    done_marker(path).touch()
    assert observe(path).marker and done_marker(path).name == "flights.csv.done"


def test_observe_never_takes_a_temporary_name(tmp_path):
    partial = tmp_path / "flights.csv.part"
    partial.write_bytes(b"year,month\n")
    assert not observe(partial).present


# ---- ingestion: the last guard ----------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path):
    """Staging settings with a 1 s stable window and the landing zone and lakehouse in tmp_path."""
    lake = LakehouseSettings(root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"))
    base = load_settings("staging")
    quality = base.quality.model_copy(update={"landing_stable_seconds": STABLE})
    return base.model_copy(update={"lakehouse": lake, "quality": quality})


@pytest.fixture
def payload(tmp_path) -> bytes:
    """A real day of flights, as the complete file an upstream system delivers."""
    lake = LakehouseSettings(root=str(tmp_path / "src-lake"), landing_root=str(tmp_path / "src-landing"))
    (path,) = land_day(load_settings("staging").model_copy(update={"lakehouse": lake}), DAY, datasets=("flights",))
    return path.read_bytes()


def _rows(data: bytes) -> int:
    return data.count(b"\n") - 1


def _age(path, seconds: float = 3600) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def _assert_nothing_written(settings, path, lake):
    assert not lake.exists("bronze.flights") and not lake.exists(QUARANTINE_TABLE)
    assert path.is_file() and not (Path(settings.lakehouse.landing_root) / "_quarantine").exists()


@pytest.mark.parametrize("cut", ["line", "mid_line"])
def test_ingest_day_waits_for_a_file_cut_short(settings, payload, cut):
    path = landing_path(settings, "flights", DAY)
    path.parent.mkdir(parents=True)
    half = payload.index(b"\n", len(payload) // 2) + (1 if cut == "line" else -7)
    path.write_bytes(payload[:half])
    lake = Lakehouse.from_settings(settings)
    with pytest.raises(LandingFileIncomplete, match="not complete yet.*stable window"):
        ingest_day(settings, lake, "flights", DAY, "run-1")
    _assert_nothing_written(settings, path, lake)


def test_ingest_day_refuses_a_file_that_grows_while_read(settings, payload, monkeypatch):
    import mlops.ingestion as ingestion

    path = landing_path(settings, "flights", DAY)
    path.parent.mkdir(parents=True)
    half = payload.index(b"\n", len(payload) // 2) + 1
    path.write_bytes(payload[:half])
    _age(path)  # the writer paused longer than the window, then resumed while we read
    read = ingestion.read_landing_file

    def read_while_growing(p, ds):
        table = read(p, ds)
        with open(p, "ab") as handle:
            handle.write(payload[half:])
        return table

    monkeypatch.setattr(ingestion, "read_landing_file", read_while_growing)
    lake = Lakehouse.from_settings(settings)
    with pytest.raises(LandingFileIncomplete, match="changed while being read"):
        ingest_day(settings, lake, "flights", DAY, "run-1")
    _assert_nothing_written(settings, path, lake)


def test_ingest_day_takes_a_fresh_file_at_once_with_its_done_marker(settings, payload):
    path = landing_path(settings, "flights", DAY)
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    done_marker(path).touch()
    result = ingest_day(settings, Lakehouse.from_settings(settings), "flights", DAY, "run-1")
    assert result.rows == _rows(payload)


def test_ingest_day_with_a_slow_writer_retries_then_stores_every_row(settings, payload):
    """350-ish rows appended in 12 chunks over ~1.8 s, cut anywhere (mid-line too): the first attempt while the
    writer runs is refused as incomplete, writing nothing; once it stops and the window passes, all rows land."""
    path = landing_path(settings, "flights", DAY)
    path.parent.mkdir(parents=True)
    path.touch()
    cuts = [len(payload) * i // 12 for i in range(13)]

    def write_slowly():
        for start, end in zip(cuts, cuts[1:], strict=False):
            with open(path, "ab") as handle:
                handle.write(payload[start:end])
            time.sleep(0.15)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    lake = Lakehouse.from_settings(settings)
    attempts = 0
    try:
        time.sleep(0.5)
        with pytest.raises(LandingFileIncomplete):
            attempts += 1
            ingest_day(settings, lake, "flights", DAY, "run-1")
        _assert_nothing_written(settings, path, lake)
    finally:
        writer.join()
    while True:  # Airflow's retries, compressed
        attempts += 1
        try:
            result = ingest_day(settings, lake, "flights", DAY, "run-1")
            break
        except LandingFileIncomplete:
            time.sleep(0.2)
    full = read_landing_file(path, FLIGHTS)
    assert path.read_bytes() == payload
    assert result.rows == lake.read("bronze.flights").num_rows == full.num_rows == _rows(payload)
    assert attempts >= 2 and not lake.exists(QUARANTINE_TABLE)


@pytest.mark.parametrize("kind", ["directory", "dangling_symlink"])
def test_observe_sees_a_non_file_at_the_landing_path_so_validation_can_refuse_it(tmp_path, kind):
    path = tmp_path / "flights.csv"
    if kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "gone.csv")
    seen = observe(path)
    assert seen.present and seen.size == 0
    assert landing_state([seen], seen.at + 10, stable_seconds=5) == "complete"
