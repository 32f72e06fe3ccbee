"""Bad landing files: each is refused with a clear message, quarantined, and nothing reaches bronze."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.ingestion import QUARANTINE_TABLE, IngestionError, ingest_day, quarantine_file
from mlops.lakehouse import Lakehouse
from mlops.landing import landing_path
from usecases.flight_delay.source import land_day

GOOD_DAY, BAD_DAY = date(2013, 1, 1), date(2013, 1, 2)


def _settings(root: Path):
    lake = LakehouseSettings(root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    base = load_settings("staging")  # files are read as soon as landed: the landing protocol has its own tests
    quality = base.quality.model_copy(update={"landing_stable_seconds": 0})
    return base.model_copy(update={"lakehouse": lake, "quality": quality})


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A landing zone with two real days and a lakehouse where the first day's flights are in bronze."""
    root = tmp_path_factory.mktemp("baseline")
    settings = _settings(root)
    land_day(settings, GOOD_DAY, datasets=("flights",))
    land_day(settings, BAD_DAY)
    ingest_day(settings, Lakehouse.from_settings(settings), "flights", GOOD_DAY, "good-run")
    return root


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _set(column: str, value: str, row: int = 1) -> Callable[[bytes], bytes]:
    """Set `column` of data row `row` to `value`."""

    def edit(data: bytes) -> bytes:
        rows = _rows(data.decode())
        rows[row][rows[0].index(column)] = value
        return _csv(rows).encode()

    return edit


def _drop_column(column: str) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        rows = _rows(data.decode())
        index = rows[0].index(column)
        return _csv([r[:index] + r[index + 1 :] for r in rows]).encode()

    return edit


def _add_column(data: bytes) -> bytes:
    rows = _rows(data.decode())
    return _csv([rows[0] + ["gate_number"]] + [r + ["12"] for r in rows[1:]]).encode()


def _duplicate_row(data: bytes) -> bytes:
    rows = _rows(data.decode())
    return _csv(rows + [rows[1]]).encode()


def _latin1(data: bytes) -> bytes:
    rows = _rows(data.decode())
    rows[1][rows[0].index("dest")] = "ZÜR"
    return _csv(rows).encode("latin-1")


# (dataset, corruption, words the message must contain besides the file path)
CASES = {
    "gzip_bytes": ("flights", gzip.compress, ["corrupt", "gzip"]),
    "binary_garbage": ("flights", lambda d: bytes(range(256)) * 8, ["corrupt", "binary"]),
    "semicolon_delimiter": ("flights", lambda d: d.replace(b",", b";"), ["delimiter"]),
    "tab_delimiter": ("weather", lambda d: d.replace(b",", b"\t"), ["delimiter"]),
    "latin1_encoding": ("flights", _latin1, ["encoding", "not UTF-8", "line 2"]),
    "utf16_encoding": ("weather", lambda d: d.decode().encode("utf-16"), ["encoding", "UTF-16"]),
    "missing_column": ("flights", _drop_column("dep_delay"), ["missing columns", "dep_delay"]),
    "extra_column": ("weather", _add_column, ["unexpected", "gate_number"]),
    "wrong_type": ("flights", _set("flight", "UA1545", row=3), ["flight", "UA1545", "data row 3", "int64"]),
    "bad_timestamp": ("weather", _set("time_hour", "yesterday"), ["time_hour", "yesterday"]),
    "ragged_row": ("planes", lambda d: d + b"N999ZZ,2004.0\n", ["malformed", "Expected 9 columns"]),
    "empty_file": ("flights", lambda d: b"", ["empty", "0 bytes"]),
    "header_only": ("weather", lambda d: d.split(b"\n", 1)[0] + b"\n", ["empty", "header only"]),
    "null_key": ("flights", _set("carrier", ""), ["expect_column_values_to_not_be_null", "carrier"]),
    "null_planes_key": ("planes", _set("tailnum", ""), ["expect_column_values_to_not_be_null", "tailnum"]),
    "out_of_range": ("flights", _set("dep_delay", "5000.0"), ["expect_column_values_to_be_between", "dep_delay"]),
    "humidity_out_of_range": ("weather", _set("humid", "150.0"), ["expect_column_values_to_be_between", "humid"]),
    "duplicate_keys": ("flights", _duplicate_row, ["expect_compound_columns_to_be_unique", "year, month, day"]),
    "duplicate_tailnum": ("planes", _duplicate_row, ["expect_column_values_to_be_unique", "tailnum"]),
    "future_time_hour": ("flights", _set("time_hour", "2013-03-01T10:00:00Z"), ["time_hour", "2013-03-01"]),
    "wrong_day": ("weather", _set("day", "9"), ["expect_column_values_to_be_in_set", "column day"]),
    "unknown_airport": ("flights", _set("origin", "BOS"), ["expect_column_values_to_be_in_set", "origin", "BOS"]),
    "unknown_carrier": ("flights", _set("carrier", "ZZ"), ["expect_column_values_to_be_in_set", "carrier", "ZZ"]),
}


@pytest.fixture
def env(baseline, tmp_path):
    """A private copy of the baseline, so each case starts from the same landing zone and bronze."""
    shutil.copytree(baseline, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_quality"))
    settings = _settings(tmp_path)
    return settings, Lakehouse.from_settings(settings)


@pytest.mark.parametrize("case", list(CASES))
def test_ingest_day_refuses_and_quarantines_bad_file(env, case):
    settings, lake = env
    dataset, corrupt, words = CASES[case]
    path = landing_path(settings, dataset, BAD_DAY)
    path.write_bytes(corrupt(path.read_bytes()))
    table = f"bronze.{dataset}"
    before = lake.version(table) if lake.exists(table) else None

    with pytest.raises(IngestionError) as raised:
        ingest_day(settings, lake, dataset, BAD_DAY, f"run-{case}")

    message = str(raised.value)
    for word in [str(path), *words]:
        assert word in message, f"{word!r} not in message:\n{message}"
    assert (lake.version(table) if lake.exists(table) else None) == before
    if before is not None:
        assert set(lake.read(table, columns=["date"])["date"].to_pylist()) == {GOOD_DAY}
    records = lake.read(QUARANTINE_TABLE).to_pylist()
    assert {(r["dataset"], r["date"], r["source_file"], r["run_id"]) for r in records} == {
        (dataset, BAD_DAY, str(path), f"run-{case}")
    }
    assert records[0]["reason"] and records[0]["expectation"] == raised.value.expectation
    moved = Path(records[0]["quarantined_path"])
    assert not path.exists() and moved.is_file()
    assert moved == Path(settings.lakehouse.landing_root) / "_quarantine" / dataset / "date=2013-01-02" / path.name


def test_ingest_day_after_quarantine_says_where_the_file_went(env):
    settings, lake = env
    path = landing_path(settings, "flights", BAD_DAY)
    path.write_bytes(b"")
    with pytest.raises(IngestionError):
        ingest_day(settings, lake, "flights", BAD_DAY, "run-1")
    with pytest.raises(FileNotFoundError, match="quarantined earlier to .*_quarantine/flights/date=2013-01-02"):
        ingest_day(settings, lake, "flights", BAD_DAY, "run-1")
    assert lake.read(QUARANTINE_TABLE).num_rows == 1


def test_quarantine_file_twice_moves_and_records_once(env):
    settings, lake = env
    path = landing_path(settings, "weather", BAD_DAY)
    failures = [("bad humidity", "expect_column_values_to_be_between", "humid")]
    first = quarantine_file(settings, lake, "weather", BAD_DAY, path, run_id="run-1", failures=failures)
    second = quarantine_file(settings, lake, "weather", BAD_DAY, path, run_id="run-1", failures=failures)
    assert first == second and first.is_file() and not path.exists()
    assert lake.read(QUARANTINE_TABLE).num_rows == 1
