"""Feature operators (compute, publish) and QualityGateOperator on real Spark, Delta and GX for one feature table."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops.lakehouse import Lakehouse
from tests.unit._bronze import reference_frames, write_bronze

DAY = date(2013, 1, 3)
TABLE = "features.origin_weather"
STAGED = "staging.origin_weather"


class _Events(dict):
    def __missing__(self, key):
        self[key] = type("Accessor", (), {"extra": {}})()
        return self[key]


@pytest.fixture
def env_lakehouse(tmp_path, monkeypatch, spark):
    """A lakehouse with two days of EWR bronze data, selected through MLOPS_LAKEHOUSE_ROOT."""
    monkeypatch.setenv("MLOPS_LAKEHOUSE_ROOT", str(tmp_path / "lakehouse"))
    lakehouse = Lakehouse(str(tmp_path / "lakehouse" / "flight_delay"))  # each use case has its own folder
    write_bronze(lakehouse, reference_frames(date(2013, 1, 2), DAY, ("EWR",)))
    return lakehouse


def _context(outlets=()):
    return {"run_id": "manual__test", "outlet_events": _Events()}


def _stage(spark_conn_id=None):
    from mlops_airflow.operators.features import ComputeFeaturesOperator

    op = ComputeFeaturesOperator(task_id="compute", table=TABLE, day=DAY.isoformat(), spark_conn_id=spark_conn_id)
    return op.execute(_context())


def _gate():
    from mlops_airflow.operators.quality import QualityGateOperator

    return QualityGateOperator(task_id="validate", gate="features", target=TABLE, day=DAY.isoformat())


def _corrupt_staged(lakehouse, column, value, rows=1):
    staged = lakehouse.read(STAGED)
    values = staged[column].to_pylist()
    values[:rows] = [value] * rows
    bad = staged.set_column(staged.schema.get_field_index(column), column, pa.array(values, staged[column].type))
    lakehouse.replace_partition(STAGED, bad, partition={"feature_date": DAY})


def test_compute_operator_stages_the_day_and_returns_summary(env_lakehouse):
    summary = _stage()
    assert summary["table"] == STAGED
    assert summary["rows"] == env_lakehouse.read(STAGED).num_rows == 24
    assert summary["version"] == env_lakehouse.version(STAGED)


def test_publish_operator_attaches_summary_to_outlet_events(env_lakehouse):
    from mlops_airflow.assets import table_asset
    from mlops_airflow.operators.features import PublishFeaturesOperator

    _stage()
    asset = table_asset("flight_delay", TABLE)
    op = PublishFeaturesOperator(task_id="publish", table=TABLE, day=DAY.isoformat(), outlets=[asset])
    context = _context()
    op.execute(context)
    assert context["outlet_events"][asset].extra["table"] == TABLE
    assert context["outlet_events"][asset].extra["rows"] == 24


def test_an_unknown_feature_table_fails_the_task_without_retry_naming_the_known_ones(env_lakehouse):
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_airflow.operators.features import ComputeFeaturesOperator

    op = ComputeFeaturesOperator(task_id="x", table="features.no_such_table", day=DAY.isoformat(), spark_conn_id=None)
    with pytest.raises(AirflowFailException, match=f"Unknown feature table 'features.no_such_table'.*{TABLE}"):
        op.execute(_context())


def test_gate_passes_clean_staged_features(env_lakehouse):
    _stage()
    summary = _gate().execute(_context())
    assert summary["success"] is True


def test_gate_fail_mode_names_table_column_and_expectation(env_lakehouse):
    _stage()
    _corrupt_staged(env_lakehouse, "temp", 500.0)
    with pytest.raises(AirflowFailException) as failed:
        _gate().execute(_context())
    message = str(failed.value)
    assert TABLE in message and "temp" in message and "expect_column_values_to_be_between" in message
    assert not env_lakehouse.exists(TABLE)


def test_gate_batch_failure_stops_even_in_quarantine_mode(env_lakehouse, monkeypatch):
    monkeypatch.setenv("MLOPS_ENV", "prod")
    _stage()
    staged = env_lakehouse.read(STAGED)
    env_lakehouse.replace_partition(
        STAGED, pa.concat_tables([staged, staged.slice(0, 1)]), partition={"feature_date": DAY}
    )
    with pytest.raises(AirflowFailException, match="unique"):
        _gate().execute(_context())
    assert not env_lakehouse.exists("quarantine.origin_weather")


def test_gate_quarantine_mode_moves_bad_rows_and_keeps_the_rest(env_lakehouse, monkeypatch):
    monkeypatch.setenv("MLOPS_ENV", "prod")
    _stage()
    _corrupt_staged(env_lakehouse, "humid", 250.0, rows=2)
    summary = _gate().execute(_context())
    quarantined = env_lakehouse.read("quarantine.origin_weather")
    assert quarantined.num_rows == 2
    assert all("humid" in reason for reason in quarantined["_quarantine_reason"].to_pylist())
    staged = env_lakehouse.read(STAGED)
    assert staged.num_rows == 22
    assert pc.max(staged["humid"]).as_py() <= 100.0
    assert summary["success"] is True


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("sc://spark-connect", 15002, {"remote": "sc://spark-connect:15002"}),
        ("spark://master", 7077, {"master": "spark://master:7077"}),
        ("local[4]", None, {"master": "local[4]"}),
    ],
)
def test_spark_endpoint_reads_master_or_connect_url_from_connection(monkeypatch, host, port, expected):
    from airflow.sdk import Connection

    from mlops_airflow.common import spark_endpoint

    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_TEST", Connection(conn_id="spark_test", conn_type="spark", host=host, port=port).as_json()
    )
    assert spark_endpoint("spark_test") == expected


def test_spark_endpoint_without_connection_means_local_mode():
    from mlops_airflow.common import spark_endpoint

    assert spark_endpoint("spark_conn_that_does_not_exist") == {}
