"""feature_refresh end to end through Airflow (dag.test) on the staging config, on real data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mlops.config import load_settings
from mlops.lakehouse import Lakehouse
from mlops.landing import land_range, landing_path

USECASE = "flight_delay"  # the use case the staging config enables

pytestmark = pytest.mark.integration

DAY1, DAY2, DAY3 = date(2013, 1, 1), date(2013, 1, 2), date(2013, 1, 3)


def _run(dag, day: date, days: int = 1) -> str:
    # Always a conf: in-process dag.test runs share the DAG's Param objects.
    run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC), run_conf={"days": days})
    return str(run.state)


def _snapshot(lakehouse: Lakehouse, tables) -> dict[str, list]:
    out = {}
    for name in tables:
        rows = lakehouse.read(name).to_pylist()
        for row in rows:
            row.pop("_ingested_at", None)
            row.pop("_run_id", None)
            row.pop("_source_file", None)  # the landing root's path differs between lakehouses
        out[name] = sorted(rows, key=repr)
    return out


@pytest.fixture(scope="module")
def refreshed(dagbag):
    settings = load_settings("staging")
    land_range(settings, DAY1, 3)
    dag = dagbag.dags[f"{USECASE}.feature_refresh"]
    states = [_run(dag, DAY1), _run(dag, DAY2)]
    return settings, Lakehouse.from_settings(settings), dag, states


def test_feature_refresh_runs_succeed_for_two_days(refreshed):
    assert refreshed[3] == ["success", "success"]


def test_feature_refresh_appends_landed_rows_to_bronze(refreshed):
    settings, lakehouse, _, _ = refreshed
    landed = sum(len(landing_path(settings, "flights", d).read_text().splitlines()) - 1 for d in (DAY1, DAY2))
    assert lakehouse.read("bronze.flights").num_rows == landed


def test_feature_refresh_publishes_every_feature_table(refreshed):
    from usecases.flight_delay.features import FEATURE_TABLES

    _, lakehouse, _, _ = refreshed
    for spec in FEATURE_TABLES:
        dates = set(lakehouse.read(spec.name, columns=[spec.date_column]).column(0).to_pylist())
        assert DAY2 in dates, f"{spec.name} has no rows for {DAY2}"


def test_feature_refresh_emits_asset_events_with_table_metadata(refreshed):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        name = "flight_delay.bronze.flights"  # assets are per use case
        asset_id = session.query(AssetModel.id).filter(AssetModel.name == name).scalar()
        extras = [e.extra for e in session.query(AssetEvent).filter(AssetEvent.asset_id == asset_id)]
    assert extras and all({"table", "version", "rows"} <= set(x) for x in extras)
    assert extras[0]["table"] == "bronze.flights"


def test_feature_refresh_rerun_for_same_date_changes_nothing(refreshed):
    from usecases.flight_delay.features import FEATURE_TABLES

    _, lakehouse, dag, _ = refreshed
    tables = ["bronze.flights", "bronze.weather", *(spec.name for spec in FEATURE_TABLES)]
    before = _snapshot(lakehouse, tables)
    assert _run(dag, DAY2) == "success"
    assert _snapshot(lakehouse, tables) == before


def test_feature_refresh_one_run_over_two_days_equals_two_daily_runs(refreshed, tmp_path, monkeypatch):
    """days=2 in a fresh lakehouse: bronze and every feature table equal the daily runs' (lineage aside)."""
    from mlops.config import ENV_LAKEHOUSE_ROOT, ENV_LANDING_ROOT
    from usecases.flight_delay.features import FEATURE_TABLES

    _, daily, dag, _ = refreshed
    monkeypatch.setenv(ENV_LAKEHOUSE_ROOT, str(tmp_path / "lakehouse"))
    monkeypatch.setenv(ENV_LANDING_ROOT, str(tmp_path / "landing"))
    settings = load_settings("staging")
    land_range(settings, DAY1, 2)
    assert _run(dag, DAY1, days=2) == "success"
    ranged = Lakehouse.from_settings(settings)
    tables = ["bronze.flights", "bronze.weather", *(spec.name for spec in FEATURE_TABLES)]
    assert _snapshot(ranged, tables) == _snapshot(daily, tables)
    assert len(ranged.history("staging.origin_stats")) == 1  # both days staged in one commit


def test_feature_refresh_bad_landing_file_fails_run_and_quarantines_it(refreshed):
    settings, lakehouse, dag, _ = refreshed
    path = landing_path(settings, "flights", DAY3)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *lines[1:], lines[1]]) + "\n")  # a duplicate flight key
    rows_before = lakehouse.read("bronze.flights").num_rows
    assert _run(dag, DAY3) == "failed"
    assert lakehouse.read("bronze.flights").num_rows == rows_before
    quarantined = lakehouse.read("quarantine.landing_files").to_pylist()
    assert any(q["source_file"].endswith("flights.csv") and str(DAY3) in q["source_file"] for q in quarantined)
    assert not path.exists()
