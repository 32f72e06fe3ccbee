"""Bad landing files: each is refused with a clear message, quarantined, and nothing reaches bronze.

Every kind of bad input and the message it produced is printed (`BAD-INPUT <case>: <reason>`); list them with
`pytest tests/unit/test_ingestion_bad_input.py -p no:xdist -q -rP | grep BAD-INPUT`.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
from collections.abc import Callable
from datetime import date, datetime, timedelta
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


def _header(edit: Callable[[list[str]], list[str]]) -> Callable[[bytes], bytes]:
    """Rewrite the header row."""

    def change(data: bytes) -> bytes:
        rows = _rows(data.decode())
        return _csv([edit(rows[0])] + rows[1:]).encode()

    return change


def _shift_hours(hours: int) -> Callable[[bytes], bytes]:
    """Move data row 1's time_hour by `hours`, leaving its date parts and hour as they are."""

    def edit(data: bytes) -> bytes:
        rows = _rows(data.decode())
        index = rows[0].index("time_hour")
        moved = datetime.fromisoformat(rows[1][index]) + timedelta(hours=hours)
        rows[1][index] = moved.strftime("%Y-%m-%dT%H:%M:%SZ")
        return _csv(rows).encode()

    return edit


def _times(factor: int) -> Callable[[bytes], bytes]:
    """`factor` copies of every row, each with its own flight number (keys stay unique)."""

    def edit(data: bytes) -> bytes:
        rows = _rows(data.decode())
        index = rows[0].index("flight")
        copies = [list(r) for _ in range(factor) for r in rows[1:]]
        for number, row in enumerate(copies, start=1):
            row[index] = str(number)
        return _csv([rows[0], *copies]).encode()

    return edit


def _first_rows(count: int) -> Callable[[bytes], bytes]:
    return lambda data: _csv(_rows(data.decode())[: count + 1]).encode()


def _quoted_newline(data: bytes) -> bytes:
    rows = _rows(data.decode())
    rows[1][rows[0].index("dest")] = "IAH\n"
    return _csv(rows).encode()


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _dangling_link(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.with_name("gone.csv"))


def _unreadable(path: Path) -> None:
    path.chmod(0)


# Landing paths that are not a readable file: (dataset, change to the path, words the message must contain)
PATH_CASES = {
    "directory_at_landing_path": ("flights", _directory, ["not_a_file", "a directory"]),
    "dangling_symlink": ("weather", _dangling_link, ["not_a_file", "symbolic link", "gone.csv"]),
    "unreadable_permissions": ("flights", _unreadable, ["unreadable", "permission denied"]),
}

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
    # Null spellings, non-finite numbers and types (the contract's `nulls`; issue 16 item 5 from here on)
    "lowercase_nan": ("flights", _set("arr_delay", "nan", row=2), ["arr_delay", "'nan'", "data row 2", "finite"]),
    "infinity": ("flights", _set("dep_delay", "inf"), ["dep_delay", "'inf'", "not a finite number"]),
    "negative_infinity": ("weather", _set("temp", "-Infinity"), ["temp", "'-Infinity'", "not a finite number"]),
    "undeclared_null_none": ("flights", _set("dep_delay", "None"), ["dep_delay", "'None'", "null spellings"]),
    "undeclared_null_n_a": ("weather", _set("pressure", "N/A", row=4), ["pressure", "'N/A'", "data row 4"]),
    "float_in_int_column": ("flights", _set("minute", "1.5"), ["minute", "'1.5'", "int64"]),
    "int_overflow": ("flights", _set("flight", "99999999999999999999"), ["flight", "99999999999999999999", "int64"]),
    "timestamp_without_zone": ("weather", _set("time_hour", "2013-01-02 05:00:00"), ["time_hour", "timestamp"]),
    # Required columns are never null, in any null spelling
    "NA_in_required_distance": ("flights", _set("distance", "NA"), ["expect_column_values_to_not_be_null", "distance"]),
    "empty_sched_dep_time": ("flights", _set("sched_dep_time", ""), ["to_not_be_null", "sched_dep_time"]),
    "NULL_in_required_dest": ("flights", _set("dest", "NULL"), ["expect_column_values_to_not_be_null", "dest"]),
    "null_weather_origin": ("weather", _set("origin", "null"), ["expect_column_values_to_not_be_null", "origin"]),
    "null_time_hour": ("flights", _set("time_hour", "NaN"), ["expect_column_values_to_not_be_null", "time_hour"]),
    "null_plane_manufacturer": ("planes", _set("manufacturer", ""), ["to_not_be_null", "manufacturer"]),
    # String lengths and patterns
    "megabyte_tailnum": ("flights", _set("tailnum", "N" * 1_000_000), ["lengths_to_be_between", "tailnum", "1000000"]),
    "long_dest": ("flights", _set("dest", "X" * 10_000), ["expect_column_value_lengths_to_be_between", "dest"]),
    "lowercase_dest": ("flights", _set("dest", "iah"), ["expect_column_values_to_match_regex", "dest", "iah"]),
    "bad_tailnum": ("flights", _set("tailnum", "N12 3!"), ["expect_column_values_to_match_regex", "tailnum"]),
    "bad_plane_model": ("planes", _set("model", "<script>"), ["expect_column_values_to_match_regex", "model"]),
    # Allowed values of coded columns
    "padded_carrier": ("flights", _set("carrier", " UA"), ["expect_column_values_to_be_in_set", "carrier"]),
    "unknown_plane_type": ("planes", _set("type", "Balloon"), ["expect_column_values_to_be_in_set", "type"]),
    "unknown_engine": ("planes", _set("engine", "Warp"), ["expect_column_values_to_be_in_set", "engine", "Warp"]),
    "unknown_weather_origin": ("weather", _set("origin", "BOS"), ["expect_column_values_to_be_in_set", "origin"]),
    # Ranges
    "month_13": ("flights", _set("month", "13"), ["expect_column_values_to_be_between", "month"]),
    "minute_75": ("flights", _set("minute", "75"), ["expect_column_values_to_be_between", "minute"]),
    "negative_hour": ("weather", _set("hour", "-1"), ["expect_column_values_to_be_between", "hour"]),
    "zero_seats": ("planes", _set("seats", "0"), ["expect_column_values_to_be_between", "seats"]),
    "wind_dir_400": ("weather", _set("wind_dir", "400.0"), ["expect_column_values_to_be_between", "wind_dir"]),
    # Consistency between columns: the timestamp against the date parts and local hour
    "time_hour_20h_off": ("flights", _shift_hours(20), ["contract.local_hour", "time_hour", "America/New_York"]),
    "weather_hour_1h_off": ("weather", _shift_hours(-1), ["contract.local_hour", "data row 1", "hour"]),
    "future_weather_time": ("weather", _set("time_hour", "2013-01-09T05:00:00Z"), ["time_hour", "2013-01-09"]),
    # Row count against recent deliveries (the baseline holds one day of flights in bronze)
    "ten_times_the_rows": ("flights", _times(10), ["contract.row_count_band", "median", "bronze.flights"]),
    "a_tenth_of_the_rows": ("flights", _first_rows(10), ["contract.row_count_band", "10 rows"]),
    # Headers: the message shows the header seen
    "misspelled_header": (
        "flights",
        _header(lambda h: [c.replace("dep_delay", "dep delay") for c in h]),
        ["missing columns ['dep_delay']", "header seen", "dep delay"],
    ),
    "repeated_header_case_variant": (
        "weather",
        _header(lambda h: [*h, " Origin "]),
        ["repeated columns ['origin']", "header seen"],
    ),
    "newline_in_a_value": ("flights", _quoted_newline, ["expect_column_values_to_match_regex", "dest"]),
}


@pytest.fixture
def env(baseline, tmp_path):
    """A private copy of the baseline, so each case starts from the same landing zone and bronze."""
    shutil.copytree(baseline, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_quality"))
    settings = _settings(tmp_path)
    return settings, Lakehouse.from_settings(settings)


@pytest.mark.parametrize("case", list(CASES))
def test_ingest_day_refuses_and_quarantines_bad_file(env, case):
    dataset, corrupt, words = CASES[case]
    path = landing_path(env[0], dataset, BAD_DAY)
    path.write_bytes(corrupt(path.read_bytes()))
    _assert_refused(env, case, dataset, path, words)


@pytest.mark.parametrize("case", list(PATH_CASES))
def test_ingest_day_refuses_a_landing_path_that_is_not_a_readable_file(env, case):
    dataset, change, words = PATH_CASES[case]
    if case == "unreadable_permissions" and os.geteuid() == 0:
        pytest.skip("root reads a file whatever its permissions")
    path = landing_path(env[0], dataset, BAD_DAY)
    change(path)
    _assert_refused(env, case, dataset, path, words)


def _assert_refused(env, case: str, dataset: str, path: Path, words: list[str]) -> None:
    settings, lake = env
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
    print(f"BAD-INPUT {case}: [{records[0]['expectation']}] {records[0]['reason'][:400]}")
    assert {(r["dataset"], r["date"], r["source_file"], r["run_id"]) for r in records} == {
        (dataset, BAD_DAY, str(path), f"run-{case}")
    }
    assert records[0]["reason"] and records[0]["expectation"] == raised.value.expectation
    moved = Path(records[0]["quarantined_path"])
    assert not os.path.lexists(path) and os.path.lexists(moved)
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
