"""Tests of the generic GX quality gate: suites, modes, messages, stored results and Data Docs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import load_settings
from mlops.quality import GateResult, feature_suite, raw_suite, run_gate, split_quarantine, to_gate_frame
from usecases.flight_delay.datasets import WEATHER
from usecases.flight_delay.features import FeatureDefinition, FeatureTable

DAY = date(2013, 1, 1)


def _weather(n: int = 4, **overrides) -> pd.DataFrame:
    """`n` plausible EWR weather rows for DAY as the gate sees them (one per hour from 06:00 UTC)."""
    rows = {
        "origin": ["EWR"] * n,
        "year": [2013] * n,
        "month": [1] * n,
        "day": [1] * n,
        "hour": list(range(1, n + 1)),
        "temp": [39.0] * n,
        "dewp": [26.0] * n,
        "humid": [59.4] * n,
        "wind_dir": [270.0] * n,
        "wind_speed": [10.4] * n,
        "wind_gust": [None] * n,
        "precip": [0.0] * n,
        "pressure": [1012.0] * n,
        "visib": [10.0] * n,
        "time_hour": [datetime(2013, 1, 1, 6 + i, tzinfo=UTC) for i in range(n)],
    }
    rows.update(overrides)
    return to_gate_frame(pa.Table.from_pydict(rows, schema=WEATHER.schema))


def _gate(df: pd.DataFrame, tmp_path: Path, mode: str = "fail", suite=None) -> GateResult:
    return run_gate(
        df, suite or raw_suite(WEATHER, DAY), mode=mode, store_dir=tmp_path / "_quality", asset_name="raw_weather"
    )


def test_run_gate_passes_good_weather(tmp_path):
    result = _gate(_weather(), tmp_path)
    assert result.success and result.failed == () and result.bad_row_index == ()
    assert result.evaluated == len(raw_suite(WEATHER, DAY).expectations)
    assert "passed" in result.message()


def test_run_gate_fail_mode_fails_on_a_row_level_violation(tmp_path):
    result = _gate(_weather(humid=[59.4, 150.0, 59.4, 59.4]), tmp_path)
    assert not result.success
    assert [(f.expectation_type, f.columns, f.kind) for f in result.failed] == [
        ("expect_column_values_to_be_between", ("humid",), "row")
    ]
    assert result.bad_row_index == (1,)


def test_gate_result_message_names_asset_column_expectation_observed_and_required(tmp_path):
    message = _gate(_weather(humid=[59.4, 150.0, 59.4, 59.4]), tmp_path).message()
    assert "raw_weather" in message and "expect_column_values_to_be_between on column humid" in message
    assert "150.0" in message and "max_value=100" in message


def test_run_gate_quarantine_mode_passes_row_level_failures_and_marks_rows(tmp_path):
    df = _weather(origin=["EWR", "XXX", "EWR", "EWR"], temp=[39.0, 39.0, 39.0, 500.0])
    result = _gate(df, tmp_path, mode="quarantine")
    assert result.success
    assert result.bad_row_index == (1, 3)
    assert {f.columns for f in result.failed} == {("origin",), ("temp",)}


def test_run_gate_quarantine_mode_still_fails_on_batch_level_failures(tmp_path):
    df = _weather(hour=[1, 1, 2, 3], time_hour=[datetime(2013, 1, 1, 6, tzinfo=UTC)] * 4)
    result = _gate(df, tmp_path, mode="quarantine")
    assert not result.success
    assert [f.expectation_type for f in result.batch_failures] == ["expect_compound_columns_to_be_unique"]


def test_run_gate_fails_on_an_unexpected_column(tmp_path):
    df = _weather().assign(extra=1)
    result = _gate(df, tmp_path, mode="quarantine")
    assert not result.success
    assert "expect_table_columns_to_match_set" in result.message() and "extra" in result.message()


def test_split_quarantine_separates_bad_rows_with_reason(tmp_path):
    df = _weather(temp=[39.0, 500.0, 39.0, 39.0])
    good, bad = split_quarantine(df, _gate(df, tmp_path, mode="quarantine"))
    assert list(good.index) == [0, 2, 3] and list(bad.index) == [1]
    assert bad["_quarantine_reason"].tolist() == ["expect_column_values_to_be_between(temp)"]


def test_run_gate_writes_result_json_and_data_docs_under_store_dir(tmp_path):
    result = _gate(_weather(humid=[59.4, 150.0, 59.4, 59.4]), tmp_path)
    store = tmp_path / "_quality" / "raw_weather"
    assert Path(result.result_path).is_file() and Path(result.result_path).is_relative_to(store)
    assert json.loads(Path(result.result_path).read_text())["success"] is False
    assert Path(result.data_docs_path).suffix == ".html" and Path(result.data_docs_path).is_file()
    assert "humid" in Path(result.data_docs_path).read_text()
    assert (store / "data_docs" / "index.html").is_file()


def test_each_gate_run_stores_one_result_and_a_refused_one_is_complete(tmp_path):
    """A passing batch is validated once (GX's BASIC result); a failing one again in full, replacing the first."""
    store = tmp_path / "_quality" / "raw_weather" / "results"
    passed = _gate(_weather(), tmp_path)
    refused = _gate(_weather(humid=[59.4, 150.0, 59.4, 150.0]), tmp_path)
    assert sorted(store.rglob("*.json")) == sorted([Path(passed.result_path), Path(refused.result_path)])
    full = json.loads(Path(refused.result_path).read_text())
    (humid,) = [r for r in full["results"] if not r["success"]]
    assert humid["result"]["unexpected_index_list"] == [1, 3] and refused.bad_row_index == (1, 3)
    first = json.loads(Path(passed.result_path).read_text())
    assert first["success"] is True and all("unexpected_index_list" not in r["result"] for r in first["results"])


def test_gate_result_summary_is_small_and_json_serializable(tmp_path):
    summary = _gate(_weather(temp=[39.0, 500.0, 39.0, 39.0]), tmp_path).summary()
    assert json.loads(json.dumps(summary))["failed"] == ["expect_column_values_to_be_between(temp)"]
    assert summary["bad_rows"] == 1 and summary["rows"] == 4


def test_run_gate_rejects_an_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="'warn'"):
        _gate(_weather(), tmp_path, mode="warn")


CARRIER_DAILY = FeatureTable(
    name="features.carrier_daily",
    entity=("carrier",),
    timestamp_column="feature_ts",
    features=(FeatureDefinition("delay_rate", "share of delayed flights", "double", min_value=0.0, max_value=1.0),),
    description="test table",
)


def _features(n: int, ts: datetime = datetime(2013, 1, 2, 5, tzinfo=UTC), rate: float = 0.2) -> pd.DataFrame:
    return pd.DataFrame({"carrier": [f"C{i}" for i in range(n)], "feature_ts": [ts] * n, "delay_rate": [rate] * n})


def _feature_gate(df, tmp_path, previous=None) -> GateResult:
    suite = feature_suite(CARRIER_DAILY, DAY, previous, load_settings("staging"))
    return run_gate(df, suite, mode="fail", store_dir=tmp_path, asset_name="carrier_daily", build_docs=False)


def test_feature_suite_passes_fresh_rows_in_band(tmp_path):
    result = _feature_gate(_features(10), tmp_path, previous=12)
    assert result.success, result.message()
    assert result.data_docs_path is None and Path(result.result_path).is_file()


def test_feature_suite_fails_row_count_outside_band(tmp_path):
    result = _feature_gate(_features(3), tmp_path, previous=12)
    assert [f.expectation_type for f in result.failed] == ["expect_table_row_count_to_be_between"]


def test_feature_suite_fails_stale_timestamps(tmp_path):
    result = _feature_gate(_features(4, ts=datetime(2012, 12, 30, tzinfo=UTC)), tmp_path)
    assert [(f.expectation_type, f.columns) for f in result.failed] == [
        ("expect_column_max_to_be_between", ("feature_ts",))
    ]


def test_feature_suite_fails_feature_out_of_range_and_too_many_nulls(tmp_path):
    df = _features(4, rate=1.5)
    df.loc[0, "delay_rate"] = None
    failed = {(f.expectation_type, f.kind) for f in _feature_gate(df, tmp_path).failed}
    assert failed == {("expect_column_values_to_be_between", "row"), ("expect_column_values_to_not_be_null", "batch")}


def test_run_gate_without_docs_still_builds_them_for_a_refused_batch(tmp_path):
    store = tmp_path / "_quality"
    passed = run_gate(_weather(), raw_suite(WEATHER, DAY), store_dir=store, asset_name="raw_weather", build_docs=False)
    assert passed.success and passed.data_docs_path is None
    bad = _weather(humid=[59.4, 150.0, 59.4, 59.4])
    refused = run_gate(bad, raw_suite(WEATHER, DAY), store_dir=store, asset_name="raw_weather", build_docs=False)
    assert not refused.success
    assert Path(refused.data_docs_path).is_file() and "humid" in Path(refused.data_docs_path).read_text()
