"""Lakehouse through Spark: read_spark / write_spark agree with the delta-rs path (and delta-spark, with jars)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from mlops.lakehouse import SchemaMismatchError, WriterId, delta_spark_available
from mlops.spark import arrow_to_spark_schema

pytestmark = pytest.mark.spark

NO_DELTA_SPARK = "delta-spark jars not on the classpath (Maven Central unreachable); the container image bakes them in"
D1, D2 = date(2013, 1, 1), date(2013, 1, 2)


def _flights(keys: list[int], day: date, delay: float = 1.0) -> pa.Table:
    n = len(keys)
    return pa.table(
        {
            "flight": pa.array(keys, pa.int64()),
            "carrier": pa.array(["UA", None][:n] + ["B6"] * max(n - 2, 0), pa.string()),
            "dep_delay": pa.array([delay] * n, pa.float64()),
            "time_hour": pa.array([datetime(2013, 1, 1, 10, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")),
            "date": pa.array([day] * n, pa.date32()),
        }
    )


def _rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda row: (row["date"], row["flight"]))


@pytest.fixture
def partitioned(lakehouse):
    data = pa.concat_tables([_flights([1, 2], D1), _flights([3], D2)])
    lakehouse.append("bronze.flights", data, partition_by=["date"])
    return lakehouse


@pytest.fixture
def delta_spark(spark):
    if not delta_spark_available(spark):
        pytest.skip(NO_DELTA_SPARK)
    return spark


# ---- embedded path: Spark reads active files, delta-rs commits -----------------------------
def test_read_spark_of_partitioned_table_returns_same_rows_and_types(spark, partitioned):
    df = partitioned.read_spark(spark, "bronze.flights")

    assert df.schema == arrow_to_spark_schema(partitioned.schema("bronze.flights"))
    assert df.columns == ["flight", "carrier", "dep_delay", "time_hour", "date"]
    assert _rows(df.toArrow()) == _rows(partitioned.read("bronze.flights"))


def test_read_spark_at_version_reads_that_snapshot(spark, partitioned):
    partitioned.replace_partition("bronze.flights", _flights([9], D1), partition={"date": D1})

    old = partitioned.read_spark(spark, "bronze.flights", version=0)

    assert sorted(r.flight for r in old.collect()) == [1, 2, 3]


def test_read_spark_prunes_partition_filter(spark, partitioned):
    df = partitioned.read_spark(spark, "bronze.flights").where("date = DATE'2013-01-02'")

    assert [r.flight for r in df.collect()] == [3]


def test_read_spark_of_table_without_files_is_empty_with_schema(spark, lakehouse):
    lakehouse.append("bronze.empty", _flights([], D1))

    df = lakehouse.read_spark(spark, "bronze.empty")

    assert (df.count(), df.columns) == (0, ["flight", "carrier", "dep_delay", "time_hour", "date"])


def _write_both_ways(spark, lakehouse, mode: str) -> tuple[str, str]:
    """The same writes into silver.by_rs (delta-rs) and silver.by_spark (write_spark); returns both names."""
    first = pa.concat_tables([_flights([1, 2], D1), _flights([3], D2)])
    second = {
        "append": _flights([4], D2),
        "merge": pa.concat_tables([_flights([2], D1, delay=7.0), _flights([5], D2)]),
        "replace_partition": _flights([6, 7], D1, delay=3.0),
    }[mode]
    options = {"append": {}, "merge": {"keys": ["flight", "date"]}, "replace_partition": {"partition": {"date": D1}}}
    lakehouse.append("silver.by_rs", first, partition_by=["date"])
    getattr(lakehouse, mode)("silver.by_rs", second, **options[mode])
    lakehouse.write_spark(spark.createDataFrame(first), "silver.by_spark", partition_by=["date"])
    lakehouse.write_spark(spark.createDataFrame(second), "silver.by_spark", mode=mode, **options[mode])
    return "silver.by_rs", "silver.by_spark"


@pytest.mark.parametrize("mode", ["append", "merge", "replace_partition"])
def test_write_spark_gives_same_table_as_delta_rs(spark, lakehouse, mode):
    by_rs, by_spark = _write_both_ways(spark, lakehouse, mode)

    assert lakehouse.schema(by_spark) == lakehouse.schema(by_rs)
    assert _rows(lakehouse.read(by_spark)) == _rows(lakehouse.read(by_rs))
    assert lakehouse.table(by_spark).metadata().partition_columns == ["date"]


def test_write_spark_append_is_idempotent_per_writer(spark, lakehouse):
    df = spark.createDataFrame(_flights([1, 2], D1))
    writer = WriterId("spark_job/2013-01-01", 1)
    lakehouse.write_spark(df, "silver.t", writer=writer)

    again = lakehouse.write_spark(df, "silver.t", writer=writer)

    assert again.skipped
    assert lakehouse.read("silver.t").num_rows == 2


def test_write_spark_refuses_mismatched_schema(spark, lakehouse):
    lakehouse.append("silver.t", _flights([1], D1))
    df = spark.createDataFrame(_flights([2], D1).drop_columns(["dep_delay"]))

    with pytest.raises(SchemaMismatchError, match=r"missing columns \['dep_delay'\]"):
        lakehouse.write_spark(df, "silver.t")

    assert lakehouse.version("silver.t") == 0


def test_write_spark_refuses_unknown_mode(spark, lakehouse):
    with pytest.raises(ValueError, match="mode must be one of append, merge, replace_partition, got 'upsert'"):
        lakehouse.write_spark(spark.createDataFrame(_flights([1], D1)), "silver.t", mode="upsert")


# ---- delta-spark path: runs where the jars are on the classpath ---------------------------
def test_delta_spark_reads_table_written_by_delta_rs(delta_spark, partitioned):
    df = delta_spark.read.format("delta").load(partitioned.uri("bronze.flights"))

    assert _rows(df.select("flight", "carrier", "dep_delay", "time_hour", "date").toArrow()) == _rows(
        partitioned.read("bronze.flights")
    )


@pytest.mark.parametrize("mode", ["append", "merge", "replace_partition"])
def test_delta_spark_write_gives_same_table_as_delta_rs(delta_spark, lakehouse, mode):
    by_rs, by_spark = _write_both_ways(delta_spark, lakehouse, mode)

    written = delta_spark.read.format("delta").load(lakehouse.uri(by_spark))
    expected = _rows(lakehouse.read(by_rs))
    assert _rows(written.select(*lakehouse.schema(by_rs).names).toArrow()) == expected
    assert _rows(lakehouse.read(by_spark)) == expected  # delta-rs reads what delta-spark wrote


def test_delta_spark_append_is_idempotent_per_writer(delta_spark, lakehouse):
    df = delta_spark.createDataFrame(_flights([1, 2], D1))
    writer = WriterId("spark_job/2013-01-01", 1)
    lakehouse.write_spark(df, "silver.t", writer=writer)

    lakehouse.write_spark(df, "silver.t", writer=writer)

    assert delta_spark.read.format("delta").load(lakehouse.uri("silver.t")).count() == 2
    assert lakehouse.transaction_version("silver.t", writer.app_id) == 1
