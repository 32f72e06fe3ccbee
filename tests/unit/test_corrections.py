"""Corrections: a re-delivered day with other content replaces bronze and the features computed from it."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.deliveries import LEDGER_TABLE, deliveries
from mlops.features.refresh import publish_feature_dates, stage_feature_run
from mlops.features.stale import STALE_TABLE, dependent_dates, open_stale_dates
from mlops.ingestion import QUARANTINE_TABLE, IngestionError, ingest_day
from mlops.lakehouse import Lakehouse
from mlops.landing import landing_path, write_atomic
from mlops.reprocess import reprocess_range
from mlops.schemas import INGESTION_COLUMNS
from usecases.flight_delay.datasets import FLIGHTS, PLANES
from usecases.flight_delay.features import CARRIER_STATS, FEATURE_TABLES, FLIGHT_SCHEDULE, ORIGIN_WEATHER
from usecases.flight_delay.source import land_day

D1, D2, D3, D4 = (date(2013, 1, 1) + timedelta(days=i) for i in range(4))
DATASETS = ("flights", "weather", "planes")


def _settings(root):
    lake = LakehouseSettings(root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    base = load_settings("staging")
    quality = base.quality.model_copy(update={"landing_stable_seconds": 0})
    return base.model_copy(update={"lakehouse": lake, "quality": quality})


@pytest.fixture
def settings(tmp_path):
    return _settings(tmp_path)


@pytest.fixture
def lake(settings) -> Lakehouse:
    return Lakehouse.from_settings(settings)


def _reland(settings, dataset, day, change) -> None:
    """Land `dataset` for `day` again with `change(frame) -> frame` applied (read as the file's text)."""
    (path,) = land_day(settings, day, datasets=(dataset,))
    frame = change(pd.read_csv(path, keep_default_na=False, dtype=str))
    write_atomic(path, frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))


def _one_delay_changed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    arrived = frame.index[frame["arr_delay"] != ""][0]
    frame.loc[arrived, "arr_delay"] = str(float(frame.loc[arrived, "arr_delay"]) + 300)
    return frame


def _twice_the_rows(frame: pd.DataFrame) -> pd.DataFrame:
    # Twice, not ten times: the landing contract's row-count band refuses a tenfold day outright.
    copies = []
    for k in range(2):
        copy = frame.copy()
        copy["flight"] = ((copy["flight"].astype(int) + 997 * k - 1) % 9999 + 1).astype(str)
        copies.append(copy)
    return pd.concat(copies).drop_duplicates(list(FLIGHTS.keys))


def _ingest(settings, lake, days, run_id="run") -> None:
    for day in days:
        for dataset in DATASETS:
            ingest_day(settings, lake, dataset, day, run_id)


def _refresh(spark, settings, lake, first, last) -> None:
    """What a feature_refresh run over [first, last] does: stage (with stale dates), publish, clear."""
    for table in FEATURE_TABLES:
        staged = stage_feature_run(spark, lake, settings, table.name, first, last)
        publish_feature_dates(lake, settings, table.name, list(staged.dates), stale_as_of=staged.stale_as_of)


def _content(lake, name, keys) -> pd.DataFrame:
    lineage = [c for c in INGESTION_COLUMNS.names if c != "date"]
    frame = lake.read_pandas(name).drop(columns=lineage, errors="ignore")
    return frame.sort_values(list(keys)).reset_index(drop=True)


def _assert_same_tables(lake, clean) -> None:
    assert_frame = pd.testing.assert_frame_equal
    for name, keys in [("bronze.flights", FLIGHTS.keys), ("bronze.planes", PLANES.keys)]:
        assert_frame(_content(lake, name, keys), _content(clean, name, keys), check_dtype=False)
    for table in FEATURE_TABLES:
        keys = (*table.keys, table.date_column)
        assert_frame(_content(lake, table.name, keys), _content(clean, table.name, keys), check_dtype=False)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, spark):
    """A lakehouse that only ever saw correct files: D1..D4 ingested, features refreshed for D1..D4."""
    settings = _settings(tmp_path_factory.mktemp("clean"))
    lake = Lakehouse.from_settings(settings)
    for day in (D1, D2, D3, D4):
        land_day(settings, day)
    _ingest(settings, lake, (D1, D2, D3, D4))
    _refresh(spark, settings, lake, D1, D4)
    return lake


# ---- (a) the same content in another valid shape ----------------------------------------------------
def test_same_content_with_bom_crlf_and_other_column_order_stores_nothing(settings, lake):
    (path,) = land_day(settings, D2, datasets=("flights",))
    ingest_day(settings, lake, "flights", D2, "run-1")
    versions = (lake.version("bronze.flights"), lake.version(LEDGER_TABLE))
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    shuffled = frame[list(reversed(frame.columns))].iloc[::-1]
    write_atomic(path, b"\xef\xbb\xbf" + shuffled.to_csv(index=False, lineterminator="\r\n").encode("utf-8"))
    result = ingest_day(settings, lake, "flights", D2, "run-2")
    assert result.skipped and not result.corrected and result.rows == 0
    assert (lake.version("bronze.flights"), lake.version(LEDGER_TABLE)) == versions
    assert not lake.exists(STALE_TABLE)


# ---- (b) wrong day -> corrected file -> bronze and features equal a clean run ------------------------
@pytest.mark.spark
@pytest.mark.parametrize("wrong", [_one_delay_changed, _twice_the_rows], ids=["arr_delay", "2x_rows"])
def test_corrected_day_makes_bronze_and_features_equal_a_clean_run(settings, lake, spark, clean, wrong):
    for day in (D1, D3):
        land_day(settings, day)
    land_day(settings, D2, datasets=("weather", "planes"))
    _reland(settings, "flights", D2, wrong)
    _ingest(settings, lake, (D1, D2, D3))
    _refresh(spark, settings, lake, D1, D3)
    wrong_version = lake.version("bronze.flights")

    land_day(settings, D2, datasets=("flights",))  # the corrected delivery
    result = ingest_day(settings, lake, "flights", D2, "correction")

    assert result.corrected and not result.skipped
    assert result.rows == len(pd.read_csv(landing_path(settings, "flights", D2)))
    old, new = deliveries(lake, "flights", D2)
    assert (old.status, old.superseded_by, new.status, new.delivery) == ("superseded", new.content_hash, "current", 2)
    assert lake.read("bronze.flights", version=wrong_version).num_rows > 0  # the old delivery, by time travel
    assert open_stale_dates(lake, FLIGHT_SCHEDULE.name) == [D2]
    assert open_stale_dates(lake, CARRIER_STATS.name) == [D2, D3]
    assert open_stale_dates(lake, ORIGIN_WEATHER.name) == []

    land_day(settings, D4)
    _ingest(settings, lake, (D4,))
    _refresh(spark, settings, lake, D4, D4)  # the next daily run recomputes the stale dates beside its own

    _assert_same_tables(lake, clean)
    assert all(open_stale_dates(lake, t.name) == [] for t in FEATURE_TABLES)


def test_corrected_snapshot_equals_a_clean_merge(settings, lake, tmp_path):
    def wrong(frame: pd.DataFrame) -> pd.DataFrame:
        extra = frame.iloc[:1].assign(tailnum="N0WRONG")
        return pd.concat([frame.assign(seats=lambda f: f["seats"].where(f.index != 0, "999")), extra])

    land_day(settings, D1, datasets=("planes",))
    _reland(settings, "planes", D2, wrong)
    for day in (D1, D2):
        ingest_day(settings, lake, "planes", day, "run")
    land_day(settings, D2, datasets=("planes",))
    assert ingest_day(settings, lake, "planes", D2, "correction").corrected

    clean_settings = _settings(tmp_path / "clean")
    clean_lake = Lakehouse.from_settings(clean_settings)
    for day in (D1, D2):
        land_day(clean_settings, day, datasets=("planes",))
        ingest_day(clean_settings, clean_lake, "planes", day, "run")
    pd.testing.assert_frame_equal(
        _content(lake, "bronze.planes", PLANES.keys), _content(clean_lake, "bronze.planes", PLANES.keys)
    )


# ---- (c) a refused correction ------------------------------------------------------------------------
def test_refused_correction_leaves_bronze_and_ledger_unchanged_and_quarantines_the_file(settings, lake):
    land_day(settings, D2, datasets=("flights",))
    ingest_day(settings, lake, "flights", D2, "run-1")
    before = (lake.read("bronze.flights"), lake.version("bronze.flights"), lake.read(LEDGER_TABLE))
    _reland(settings, "flights", D2, lambda f: f.assign(arr_delay=f["arr_delay"].where(f.index != 0, "99999")))

    with pytest.raises(IngestionError, match="arr_delay"):
        ingest_day(settings, lake, "flights", D2, "run-2")

    assert lake.version("bronze.flights") == before[1]
    assert lake.read("bronze.flights").equals(before[0])
    assert lake.read(LEDGER_TABLE).equals(before[2])
    assert not landing_path(settings, "flights", D2).exists()
    assert lake.read(QUARANTINE_TABLE)["run_id"].to_pylist()[-1] == "run-2"
    assert ingest_day(settings, lake, "flights", D2, "run-3").skipped  # the file is gone: bronze stays


# ---- (d) the reprocess command -----------------------------------------------------------------------
@pytest.mark.spark
def test_reprocess_range_corrects_and_republishes_only_what_changed(settings, lake, spark, clean):
    for day in (D1, D3):
        land_day(settings, day)
    land_day(settings, D2, datasets=("weather", "planes"))
    _reland(settings, "flights", D2, _one_delay_changed)
    _ingest(settings, lake, (D1, D2, D3))
    _refresh(spark, settings, lake, D1, D3)
    land_day(settings, D2, datasets=("flights",))

    result = reprocess_range(settings, lake, D1, D3, spark=spark, run_id="reprocess")

    assert result.corrections == 1
    rows = len(pd.read_csv(landing_path(settings, "flights", D2)))
    assert result.ingested["flights"] == {
        D1.isoformat(): "unchanged",
        D2.isoformat(): f"corrected ({rows} rows, 9 feature dates stale)",
        D3.isoformat(): "unchanged",
    }
    assert result.republished[FLIGHT_SCHEDULE.name] == [D2]
    assert result.republished[CARRIER_STATS.name] == [D2, D3]
    assert ORIGIN_WEATHER.name not in result.republished
    assert all(open_stale_dates(lake, t.name) == [] for t in FEATURE_TABLES)
    for table in FEATURE_TABLES:
        keys = (*table.keys, table.date_column)
        clean_rows = _content(clean, table.name, keys)
        expected = clean_rows[clean_rows[table.date_column] <= D3].reset_index(drop=True)
        pd.testing.assert_frame_equal(_content(lake, table.name, keys), expected, check_dtype=False)


# ---- which feature dates a bronze day feeds ---------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "source", "snapshot", "expected"),
    [
        (FLIGHT_SCHEDULE, "bronze.flights", False, [D2]),
        (CARRIER_STATS, "bronze.flights", False, [D2, D3, D4]),
        (ORIGIN_WEATHER, "bronze.flights", False, []),
        (FEATURE_TABLES[-1], "bronze.planes", True, [D2, D3, D4]),
    ],
    ids=["same_day", "lookback", "not_read", "snapshot"],
)
def test_dependent_dates_follow_sources_and_lookback(table, source, snapshot, expected):
    published = [D1, D2, D3, D4]
    assert dependent_dates(table, source, D2, snapshot=snapshot, published=published) == expected


def test_clear_stale_keeps_a_mark_made_after_the_recomputation_read_bronze(lake):
    from datetime import UTC, datetime

    from mlops.features.stale import clear_stale, mark_stale

    lake.append(FLIGHT_SCHEDULE.name, pd.DataFrame({"feature_date": [D2]}).astype({"feature_date": "object"}))
    read_at = datetime.now(UTC)
    mark_stale(lake, [FLIGHT_SCHEDULE], "bronze.flights", D2, snapshot=False, reason="later correction")
    assert clear_stale(lake, FLIGHT_SCHEDULE.name, [D2], marked_before=read_at, run_id="r") == 0
    assert open_stale_dates(lake, FLIGHT_SCHEDULE.name) == [D2]
    assert clear_stale(lake, FLIGHT_SCHEDULE.name, [D2], marked_before=datetime.now(UTC), run_id="r") == 1
    assert open_stale_dates(lake, FLIGHT_SCHEDULE.name) == []
