"""Lakehouse on delta-rs: naming, time travel, idempotent appends, merge, partitions, schema, atomicity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from mlops.lakehouse import Lakehouse, SchemaMismatchError, TableNotFoundError, WriterId, parse_table_name

D1, D2 = date(2013, 1, 1), date(2013, 1, 2)


def _rows(keys: list[int], value: float = 1.0, day: date = D1) -> pa.Table:
    return pa.table(
        {
            "flight": pa.array(keys, pa.int64()),
            "delay": pa.array([value] * len(keys), pa.float64()),
            "carrier": pa.array(["UA"] * len(keys), pa.string()),
            "date": pa.array([day] * len(keys), pa.date32()),
        }
    )


def _sorted(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda row: (row["date"], row["flight"]))


# ---- naming ------------------------------------------------------------------------------
def test_uri_resolves_layer_and_table_under_root(tmp_path):
    lakehouse = Lakehouse(str(tmp_path) + "/")

    assert lakehouse.uri("bronze.flights") == f"{tmp_path}/bronze/flights"
    assert parse_table_name("features.carrier_daily") == ("features", "carrier_daily")


@pytest.mark.parametrize(
    "name", ["flights", "Bronze.flights", "bronze.flights.v2", "../etc.passwd", "bronze.", ".flights", "b.fl-ights"]
)
def test_uri_refuses_bad_table_name(lakehouse, name):
    with pytest.raises(ValueError, match=r"is not of the form '<layer>\.<table>'"):
        lakehouse.uri(name)


def test_read_of_missing_table_raises_table_not_found(lakehouse):
    with pytest.raises(TableNotFoundError, match="Table bronze.nothing does not exist"):
        lakehouse.read("bronze.nothing")


# ---- reads and time travel ---------------------------------------------------------------
@pytest.fixture
def three_versions(lakehouse):
    """bronze.t with versions 0 (1 row), 1 (2 rows), 2 (3 rows), commits at least 10 ms apart."""
    for key in (1, 2, 3):
        lakehouse.append("bronze.t", _rows([key]))
        time.sleep(0.01)
    return lakehouse


def test_read_returns_latest_version(three_versions):
    assert three_versions.read("bronze.t").num_rows == 3
    assert three_versions.version("bronze.t") == 2


def test_read_at_version_returns_that_snapshot(three_versions):
    assert three_versions.read("bronze.t", version=0)["flight"].to_pylist() == [1]
    assert three_versions.read("bronze.t", version=1).num_rows == 2


def test_read_at_unknown_version_names_latest(three_versions):
    with pytest.raises(ValueError, match="Table bronze.t has no version 7; latest is 2"):
        three_versions.read("bronze.t", version=7)


def test_read_as_of_returns_last_commit_at_or_before_timestamp(three_versions):
    commit_ms = {c["version"]: c["timestamp"] for c in three_versions.history("bronze.t")}
    at_v1 = datetime.fromtimestamp(commit_ms[1] / 1000, tz=UTC)

    assert three_versions.read("bronze.t", as_of=at_v1).num_rows == 2
    assert three_versions.read("bronze.t", as_of=at_v1 - timedelta(milliseconds=1)).num_rows == 1
    assert three_versions.read("bronze.t", as_of=at_v1.isoformat()).num_rows == 2


def test_read_as_of_before_first_commit_fails(three_versions):
    with pytest.raises(ValueError, match="bronze.t has no version at or before 2000-01-01"):
        three_versions.read("bronze.t", as_of=datetime(2000, 1, 1))


def test_read_refuses_version_and_as_of_together(three_versions):
    with pytest.raises(ValueError, match="at a version or a timestamp, not both"):
        three_versions.read("bronze.t", version=1, as_of=datetime.now(UTC))


def test_history_lists_commits_newest_first(three_versions):
    history = three_versions.history("bronze.t")

    assert [c["version"] for c in history] == [2, 1, 0]
    assert {c["operation"] for c in history} == {"WRITE"}


# ---- idempotent appends -----------------------------------------------------------------
def test_append_by_same_writer_twice_stores_one_copy(lakehouse):
    writer = WriterId("feature_refresh/2013-01-01", 1)
    first = lakehouse.append("bronze.t", _rows([1, 2]), writer=writer)

    again = lakehouse.append("bronze.t", _rows([1, 2]), writer=writer)

    assert (first.rows, first.skipped) == (2, False)
    assert (again.rows, again.skipped, again.version) == (0, True, first.version)
    assert lakehouse.read("bronze.t").num_rows == 2
    assert lakehouse.transaction_version("bronze.t", writer.app_id) == 1


def test_append_by_different_app_id_appends(lakehouse):
    lakehouse.append("bronze.t", _rows([1, 2]), writer=WriterId("run_a"))

    result = lakehouse.append("bronze.t", _rows([1, 2]), writer=WriterId("run_b"))

    assert (result.rows, result.skipped) == (2, False)
    assert lakehouse.read("bronze.t").num_rows == 4


def test_append_by_same_app_id_with_higher_version_appends(lakehouse):
    lakehouse.append("bronze.t", _rows([1]), writer=WriterId("run_a", 1))

    result = lakehouse.append("bronze.t", _rows([2]), writer=WriterId("run_a", 2))

    assert not result.skipped
    assert lakehouse.read("bronze.t").num_rows == 2


def test_append_accepts_pandas(lakehouse):
    frame = pd.DataFrame({"flight": [1, 2], "delay": [0.5, None]})

    lakehouse.append("bronze.t", frame)

    assert lakehouse.read_pandas("bronze.t")["delay"].isna().sum() == 1


class _StaleOnce(Lakehouse):
    """Hands the first write attempt a snapshot taken before another writer's commit (a lost race)."""

    def __init__(self, root: str, stale) -> None:
        super().__init__(root)
        self._stale = stale

    def _load(self, name):
        stale, self._stale = self._stale, None
        return stale if stale is not None else super()._load(name)


def test_append_that_loses_race_to_same_writer_skips(lakehouse):
    writer = WriterId("run_a", 1)
    lakehouse.append("bronze.t", _rows([1]))
    stale = lakehouse.table("bronze.t")
    lakehouse.append("bronze.t", _rows([2]), writer=writer)  # the other process wins

    result = _StaleOnce(lakehouse.root, stale).append("bronze.t", _rows([2]), writer=writer)

    assert result.skipped
    assert sorted(lakehouse.read("bronze.t")["flight"].to_pylist()) == [1, 2]


def test_merge_planned_on_stale_snapshot_is_replanned(lakehouse):
    lakehouse.merge("silver.t", _rows([1, 2]), keys=["flight"])
    stale = lakehouse.table("silver.t")
    lakehouse.append("silver.t", _rows([3]))  # a concurrent commit the merge did not read

    result = _StaleOnce(lakehouse.root, stale).merge("silver.t", _rows([3, 4], value=2.0), keys=["flight"])

    assert (result.rows, result.version) == (2, 2)
    assert [(r["flight"], r["delay"]) for r in _sorted(lakehouse.read("silver.t"))] == [
        (1, 1.0),
        (2, 1.0),
        (3, 2.0),
        (4, 2.0),
    ]


# ---- merge ----------------------------------------------------------------------------------
def test_merge_updates_matching_keys_and_inserts_new_ones(lakehouse):
    lakehouse.merge("silver.t", _rows([1, 2], value=1.0), keys=["flight", "date"])

    result = lakehouse.merge("silver.t", _rows([2, 3], value=9.0), keys=["flight", "date"])

    assert result.rows == 2
    assert [(r["flight"], r["delay"]) for r in _sorted(lakehouse.read("silver.t"))] == [(1, 1.0), (2, 9.0), (3, 9.0)]


def test_merge_rerun_changes_nothing(lakehouse):
    lakehouse.merge("silver.t", _rows([1, 2]), keys=["flight"])
    lakehouse.merge("silver.t", _rows([2, 3], value=5.0), keys=["flight"])
    before = (lakehouse.version("silver.t"), _sorted(lakehouse.read("silver.t")))

    rerun = lakehouse.merge("silver.t", _rows([2, 3], value=5.0), keys=["flight"])

    assert rerun.rows == 0
    assert (lakehouse.version("silver.t"), _sorted(lakehouse.read("silver.t"))) == before


def test_merge_refuses_duplicate_keys_in_source(lakehouse):
    with pytest.raises(ValueError, match=r"merge into silver.t: 1 duplicate rows on keys \['flight'\]"):
        lakehouse.merge("silver.t", _rows([1, 1, 2]), keys=["flight"])


def test_merge_refuses_null_keys(lakehouse):
    data = pa.table({"flight": pa.array([1, None], pa.int64()), "delay": [1.0, 2.0]})

    with pytest.raises(ValueError, match=r"key columns have nulls \{'flight': 1\}"):
        lakehouse.merge("silver.t", data, keys=["flight"])


def test_merge_refuses_missing_key_column(lakehouse):
    with pytest.raises(SchemaMismatchError, match=r"key columns \['tailnum'\] are not in the data"):
        lakehouse.merge("silver.t", _rows([1]), keys=["tailnum"])


# ---- replace_partition --------------------------------------------------------------------
def test_replace_partition_replaces_only_that_partition(lakehouse):
    lakehouse.append("bronze.t", pa.concat_tables([_rows([1, 2], day=D1), _rows([3], day=D2)]), partition_by=["date"])

    result = lakehouse.replace_partition("bronze.t", _rows([7], value=2.0, day=D1), partition={"date": D1})

    assert result.version == 1
    rows = [(r["date"], r["flight"], r["delay"]) for r in _sorted(lakehouse.read("bronze.t"))]
    assert rows == [(D1, 7, 2.0), (D2, 3, 1.0)]
    assert lakehouse.read("bronze.t", version=0).num_rows == 3  # the previous snapshot is intact


def test_replace_partition_commits_once(lakehouse):
    lakehouse.append("bronze.t", pa.concat_tables([_rows([1, 2], day=D1), _rows([3], day=D2)]), partition_by=["date"])

    lakehouse.replace_partition("bronze.t", _rows([7], day=D1), partition={"date": D1})

    latest = lakehouse.history("bronze.t", limit=1)[0]
    assert latest["operationParameters"]["mode"] == "Overwrite"
    assert latest["operationMetrics"]["num_removed_files"] == 1
    assert latest["operationMetrics"]["num_added_files"] == 1


def test_replace_partition_creates_table_partitioned_by_partition_columns(lakehouse):
    lakehouse.replace_partition("bronze.t", _rows([1], day=D2), partition={"date": D2})

    assert lakehouse.table("bronze.t").metadata().partition_columns == ["date"]


def test_replace_partition_refuses_rows_of_other_partitions(lakehouse):
    data = pa.concat_tables([_rows([1], day=D1), _rows([2], day=D2)])

    with pytest.raises(ValueError, match="1 rows have date != datetime.date\\(2013, 1, 1\\)"):
        lakehouse.replace_partition("bronze.t", data, partition={"date": D1})


def test_replace_partition_with_a_list_replaces_those_partitions_in_one_commit(lakehouse):
    d3 = date(2013, 1, 3)
    old = pa.concat_tables([_rows([1], day=D1), _rows([2], day=D2), _rows([3], day=d3)])
    lakehouse.append("bronze.t", old, partition_by=["date"])

    new = pa.concat_tables([_rows([8], value=2.0, day=D1), _rows([9], value=2.0, day=D2)])
    result = lakehouse.replace_partition("bronze.t", new, partition={"date": [D1, D2]})

    assert result.version == 1
    assert [(r["date"], r["flight"]) for r in _sorted(lakehouse.read("bronze.t"))] == [(D1, 8), (D2, 9), (d3, 3)]


def test_replace_partition_with_a_list_refuses_rows_outside_it(lakehouse):
    data = pa.concat_tables([_rows([1], day=D1), _rows([2], day=date(2013, 1, 3))])

    with pytest.raises(ValueError, match="1 rows have date != "):
        lakehouse.replace_partition("bronze.t", data, partition={"date": [D1, D2]})


# ---- schema enforcement -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["delay"]), r"missing columns \['delay'\]"),
        (lambda t: t.append_column("gate", pa.array(["A1"])), r"unexpected columns \['gate'\]"),
        (lambda t: t.set_column(0, "flight", pa.array(["1"])), r"wrong types \['flight \(string, table has int64\)'\]"),
        (lambda t: t.set_column(1, "delay", pa.array(["5"])), r"wrong types \['delay \(string, table has double\)'\]"),
    ],
    ids=["missing", "extra", "string_for_int", "string_for_float"],
)
@pytest.mark.parametrize("operation", ["append", "merge", "replace_partition"])
def test_mismatched_write_fails_naming_columns_and_leaves_table_unchanged(lakehouse, change, message, operation):
    lakehouse.append("bronze.t", _rows([1, 2]), partition_by=["date"])
    bad = change(_rows([9]))
    write = {
        "append": lambda: lakehouse.append("bronze.t", bad),
        "merge": lambda: lakehouse.merge("bronze.t", bad, keys=["date"]),
        "replace_partition": lambda: lakehouse.replace_partition("bronze.t", bad, partition={"date": D1}),
    }[operation]

    with pytest.raises(SchemaMismatchError, match=f"Schema mismatch writing bronze.t: {message}") as info:
        write()

    assert "The table is unchanged" in str(info.value)
    assert lakehouse.version("bronze.t") == 0
    assert _sorted(lakehouse.read("bronze.t")) == _sorted(_rows([1, 2]))


def test_append_casts_lossless_types_to_table_schema(lakehouse):
    lakehouse.append("bronze.t", _rows([1]))
    narrow = _rows([2]).set_column(0, "flight", pa.array([2], pa.int32()))
    narrow = narrow.select(["date", "carrier", "delay", "flight"])  # other order, narrower int

    lakehouse.append("bronze.t", narrow)

    assert lakehouse.schema("bronze.t").field("flight").type == pa.int64()
    assert sorted(lakehouse.read("bronze.t")["flight"].to_pylist()) == [1, 2]


def test_append_refuses_lossy_float_to_int(lakehouse):
    lakehouse.append("bronze.t", _rows([1]))
    fractional = _rows([2]).set_column(0, "flight", pa.array([2.5]))

    with pytest.raises(SchemaMismatchError, match=r"wrong types \['flight \(double, table has int64\)'\]"):
        lakehouse.append("bronze.t", fractional)


# ---- atomicity: a writer killed mid-write -------------------------------------------------
_BIG_WRITE = """
import sys
import numpy as np, pyarrow as pa
from mlops.lakehouse import Lakehouse
n = int(sys.argv[2])
data = pa.table({"id": np.arange(n), "x": np.random.default_rng(0).random(n)})
print("writing", flush=True)
Lakehouse(sys.argv[1]).append("bronze.big", data)
print("committed", flush=True)
"""


def _kill_once_data_files_appear(lakehouse: Lakehouse, rows: int) -> tuple[bool, set[str]]:
    """Start a big append in a child, SIGKILL it when its first data file lands; (killed mid-write, new files)."""
    table_dir = Path(lakehouse.uri("bronze.big"))
    before = set(os.listdir(table_dir))
    child = subprocess.Popen(
        [sys.executable, "-c", _BIG_WRITE, lakehouse.root, str(rows)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child.stdout.readline()  # "writing": the data is built, the write starts now
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if any(name.endswith(".parquet") for name in set(os.listdir(table_dir)) - before):
                os.kill(child.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    new_files = {n for n in set(os.listdir(table_dir)) - before if n.endswith(".parquet")}
    return child.returncode == -signal.SIGKILL, new_files


def test_writer_killed_mid_write_leaves_no_partial_data(lakehouse):
    uri = lakehouse.uri("bronze.big")
    seed = pa.table({"id": pa.array([0, 1, 2], pa.int64()), "x": [0.0, 0.1, 0.2]})
    # Small data files make the child flush files long before its commit, so the kill lands mid-write.
    write_deltalake(uri, seed, configuration={"delta.targetFileSize": str(1 << 20)})
    for _attempt in range(3):
        version, rows = lakehouse.version("bronze.big"), lakehouse.read("bronze.big").num_rows
        killed, orphans = _kill_once_data_files_appear(lakehouse, rows=6_000_000)
        if killed and lakehouse.version("bronze.big") == version:
            break
    else:
        pytest.fail("the child committed before it could be killed three times; the machine is too fast for this test")

    assert orphans, "the killed writer had written data files"
    assert lakehouse.version("bronze.big") == version
    assert lakehouse.read("bronze.big").num_rows == rows
    assert lakehouse.append("bronze.big", seed).version == version + 1  # the table still takes writes


def test_scan_streams_filtered_columns_in_bounded_batches(lakehouse):
    import pyarrow.dataset as ds

    rows = pa.table({"day": pa.array([1, 1, 2] * 1000, pa.int64()), "x": pa.array(range(3000), pa.int64())})
    lakehouse.append("silver.scan", rows, partition_by=["day"])
    schema, batches = lakehouse.scan("silver.scan", columns=["x"], filter=ds.field("day") == 2, batch_rows=300)
    batches = list(batches)
    assert schema.names == ["x"] and all(b.num_rows <= 300 for b in batches)
    assert sorted(x for b in batches for x in b.column("x").to_pylist()) == list(range(2, 3000, 3))
