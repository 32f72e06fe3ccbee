"""No false refusal: every real day of 2011, landed from ISLP's Bikeshare, passes its dataset's whole landing contract.

Each day of rides and weather and the calendar snapshot is landed and parsed by the contract (null spellings,
types, headers), checked by the local-hour rule and the row-count band against the days before it, and the year
goes through the raw GX suite's column rules (required, ranges, allowed values, lengths) in one batch per dataset.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from mlops.ingestion import read_landing_file
from mlops.quality import raw_suite, run_gate, to_gate_frame
from mlops.quality.landing_rules import check_local_hour, check_row_count
from tests.unit._bike import bike_settings
from tests.unit.test_contract_real_data import _is_date_rule
from usecases.bike_demand.datasets import CALENDAR, RIDES, WEATHER
from usecases.bike_demand.source import land_day

pytestmark = pytest.mark.slow
YEAR = [date(2011, 1, 1) + timedelta(days=i) for i in range(365)]


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> tuple[dict[str, list[pa.Table]], Path]:
    """Every day of 2011 landed and parsed by the contract: dataset -> one table per day."""
    root = tmp_path_factory.mktemp("year")
    settings = bike_settings("dev", root)
    tables: dict[str, list[pa.Table]] = {"rides": [], "weather": []}
    for day in YEAR:
        rides, weather = land_day(settings, day, datasets=("rides", "weather"))
        tables["rides"].append(read_landing_file(rides, RIDES))
        tables["weather"].append(read_landing_file(weather, WEATHER))
    (calendar,) = land_day(settings, YEAR[0], datasets=("calendar",))
    tables["calendar"] = [read_landing_file(calendar, CALENDAR)]
    return tables, root


@pytest.mark.parametrize("dataset", [RIDES, WEATHER], ids=lambda d: d.name)
def test_every_real_day_keeps_its_local_hour_and_row_count_band(landed, dataset):
    days = landed[0][dataset.name]
    counts = [t.num_rows for t in days]
    for index, table in enumerate(days):
        assert check_local_hour(table, dataset) is None, f"{dataset.name} {YEAR[index]}"
        recent = counts[max(0, index - dataset.row_count_history) : index]
        assert check_row_count(table.num_rows, dataset, recent) is None, f"{dataset.name} {YEAR[index]}"
    assert len(days) == 365 and sum(counts) == 8645


def test_the_calendar_snapshot_passes_its_row_count_band(landed):
    (calendar,) = landed[0]["calendar"]
    assert check_row_count(calendar.num_rows, CALENDAR, [calendar.num_rows]) is None


@pytest.mark.parametrize("dataset", [RIDES, WEATHER, CALENDAR], ids=lambda d: d.name)
def test_the_real_year_passes_the_raw_suite_column_rules(landed, dataset):
    tables, root = landed
    year = pa.concat_tables(tables[dataset.name])
    suite = raw_suite(dataset, YEAR[0])
    dated = {*(dataset.date_parts or ()), dataset.time_column}
    suite.expectations = [e for e in suite.expectations if not _is_date_rule(e, dated)]
    gate = run_gate(to_gate_frame(year), suite, store_dir=root / "_quality", asset_name="year", build_docs=False)
    assert gate.success, gate.message()
