"""Valid but unusual landing files are accepted and parse to the same rows: header spelling, BOM, CRLF, column
order, any declared null spelling, padded numbers; and the contract's rules pass a day within its band."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.ingestion import ingest_day, read_landing_file
from mlops.lakehouse import Lakehouse
from mlops.quality.landing_rules import check_row_count, recent_row_counts, row_count_bounds
from usecases.flight_delay.datasets import FLIGHTS, WEATHER
from usecases.flight_delay.source import land_day

DAY = date(2013, 1, 2)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")
    lake = LakehouseSettings(root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    base = load_settings("staging")
    quality = base.quality.model_copy(update={"landing_stable_seconds": 0})
    return base.model_copy(update={"lakehouse": lake, "quality": quality})


@pytest.fixture(scope="module")
def original(settings) -> bytes:
    (path,) = land_day(settings, DAY, datasets=("weather",))
    return path.read_bytes()


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _csv(rows: list[list[str]], newline: str = "\n") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue().encode()


def _reordered(data: bytes) -> bytes:
    rows = _rows(data)
    order = list(reversed(range(len(rows[0]))))
    return _csv([[row[i] for i in order] for row in rows])


def _header(data: bytes, spell) -> bytes:
    rows = _rows(data)
    return _csv([[spell(name) for name in rows[0]], *rows[1:]])


VARIANTS = {
    "bom": lambda d: b"\xef\xbb\xbf" + d,
    "crlf": lambda d: _csv(_rows(d), newline="\r\n"),
    "reordered_columns": _reordered,
    "bom_crlf_reordered": lambda d: b"\xef\xbb\xbf" + _csv(_rows(_reordered(d)), newline="\r\n"),
    "upper_case_header": lambda d: _header(d, str.upper),
    "header_with_spaces": lambda d: _header(d, lambda name: f"  {name} "),
    "title_case_header_with_spaces": lambda d: _header(d, lambda name: f" {name.title()}"),
    "padded_numbers": lambda d: _csv([r[:5] + [f" {r[5]} "] + r[6:] for r in _rows(d)]),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_an_unusual_but_valid_file_parses_to_the_same_rows(tmp_path, original, variant):
    path = tmp_path / "weather.csv"
    path.write_bytes(original)
    expected = read_landing_file(path, WEATHER)
    path.write_bytes(VARIANTS[variant](original))
    assert read_landing_file(path, WEATHER).equals(expected)


@pytest.mark.parametrize("spelling", ["", "NA", "NaN", "null", "NULL"])
def test_every_declared_null_spelling_is_null_in_a_nullable_column(tmp_path, original, spelling):
    rows = _rows(original)
    rows[1][rows[0].index("wind_gust")] = spelling
    rows[2][rows[0].index("pressure")] = spelling
    path = tmp_path / "weather.csv"
    path.write_bytes(_csv(rows))
    table = read_landing_file(path, WEATHER)
    assert table["wind_gust"][0].as_py() is None and table["pressure"][1].as_py() is None


def test_a_day_with_NULL_in_a_nullable_column_is_ingested(settings):
    (path,) = land_day(settings, DAY, datasets=("flights",))
    rows = _rows(path.read_bytes())
    rows[1][rows[0].index("arr_delay")] = "NULL"
    path.write_bytes(_csv(rows))
    lake = Lakehouse.from_settings(settings)
    result = ingest_day(settings, lake, "flights", DAY, "run-null")
    assert result.rows == len(rows) - 1
    assert lake.read("bronze.flights")["arr_delay"].null_count >= 1


def test_recent_row_counts_are_the_days_before_in_bronze(settings):
    lake = Lakehouse.from_settings(settings)
    for offset in (3, 4):  # after DAY (already in bronze from the test above, or ingested here)
        land_day(settings, date(2013, 1, offset), datasets=("flights",))
    if not lake.exists("bronze.flights"):
        land_day(settings, DAY, datasets=("flights",))
        ingest_day(settings, lake, "flights", DAY, "run-1")
    third = ingest_day(settings, lake, "flights", date(2013, 1, 3), "run-1")
    second = lake.read("bronze.flights", filters=[("date", "=", DAY)]).num_rows
    assert recent_row_counts(lake, FLIGHTS, date(2013, 1, 4)) == [second, third.rows]  # oldest first
    assert recent_row_counts(lake, FLIGHTS, date(2013, 1, 3)) == [second]  # only days before
    recent = [second, third.rows]
    low, high = row_count_bounds(FLIGHTS.row_count_band, recent)
    assert check_row_count(low, FLIGHTS, recent) is None and check_row_count(high, FLIGHTS, recent) is None
    assert check_row_count(high + 1, FLIGHTS, recent) is not None
    assert check_row_count(10**6, FLIGHTS, []) is None  # no history: only "at least one row" (the raw suite)
