"""Two processes writing one Delta table at the same time: commits serialize, nothing is lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mlops.lakehouse import Lakehouse

ROUNDS = 6
ROWS = 20_000  # enough that writing the data file outlasts the writer check, so the two really race

# One process: per round, wait at a file barrier for the other process, then append ROWS rows.
_APPENDER = """
import json, logging, sys, time
from pathlib import Path
import numpy as np, pyarrow as pa
from mlops.lakehouse import CommitFailedError, Lakehouse, WriterId

root, (proc, rounds, rows), same = sys.argv[1], map(int, sys.argv[2:5]), sys.argv[5] == "same"
barrier = Path(sys.argv[6])
races = []
class Count(logging.Handler):
    def emit(self, record):
        races.append(record.getMessage())
logging.getLogger("mlops.lakehouse").addHandler(Count(level=logging.WARNING))
lakehouse = Lakehouse(root)
for r in range(rounds):
    (barrier / f"{r}.{proc}").touch()
    while not (barrier / f"{r}.{1 - proc}").exists():
        time.sleep(0.0005)
    data = pa.table({"proc": np.full(rows, proc), "round": np.full(rows, r), "i": np.arange(rows)})
    writer = WriterId("shared" if same else f"proc{proc}", r + 1)
    before = len(races)
    try:
        result = lakehouse.append("bronze.race", data, writer=writer)
        status = "skipped" if result.skipped else "committed"
        out = {"round": r, "proc": proc, "status": status, "rows": result.rows, "version": result.version}
    except CommitFailedError as exc:
        out = {"round": r, "proc": proc, "status": "conflict", "rows": 0, "error": str(exc)}
    out["lost_races"] = len(races) - before
    print(json.dumps(out), flush=True)
"""


def _race(lakehouse: Lakehouse, tmp_path: Path, *, same_writer: bool) -> list[dict]:
    """Run two appender processes against bronze.race; their per-round outcomes."""
    barrier = tmp_path / ("barrier_same" if same_writer else "barrier_distinct")
    barrier.mkdir()
    args = [lakehouse.root, None, str(ROUNDS), str(ROWS), "same" if same_writer else "distinct"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, *args[:1], str(proc), *args[2:], str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for proc in (0, 1)
    ]
    outcomes = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, f"appender failed:\n{err}"
        outcomes += [json.loads(line) for line in out.splitlines()]
    return outcomes


def _seeded(lakehouse: Lakehouse) -> Lakehouse:
    seed = pa.table({"proc": pa.array([-1], pa.int64()), "round": pa.array([-1], pa.int64()), "i": [0]})
    lakehouse.append("bronze.race", seed)
    return lakehouse


def _rows_per(table: pa.Table) -> Counter:
    return Counter(zip(table["proc"].to_pylist(), table["round"].to_pylist(), strict=True))


def _assert_history_consistent(lakehouse: Lakehouse) -> None:
    history = lakehouse.history("bronze.race")
    assert [c["version"] for c in history] == list(range(lakehouse.version("bronze.race"), -1, -1))
    added = sum(c["operationMetrics"]["num_added_rows"] for c in history)
    assert added == lakehouse.read("bronze.race").num_rows


@pytest.mark.integration
def test_concurrent_appends_by_two_processes_all_land_or_fail_cleanly(lakehouse, tmp_path):
    _seeded(lakehouse)

    outcomes = _race(lakehouse, tmp_path, same_writer=False)

    assert len(outcomes) == 2 * ROUNDS
    assert {o["status"] for o in outcomes} <= {"committed", "conflict"}
    table = lakehouse.read("bronze.race")
    committed = [o for o in outcomes if o["status"] == "committed"]
    assert table.num_rows == 1 + ROWS * len(committed)
    per_write = _rows_per(table)
    assert all(per_write[(o["proc"], o["round"])] == ROWS for o in committed)
    assert lakehouse.version("bronze.race") == len(committed)
    assert sorted(o["version"] for o in committed) == list(range(1, len(committed) + 1))  # one commit each
    _assert_history_consistent(lakehouse)


@pytest.mark.integration
def test_concurrent_appends_with_same_writer_store_exactly_one_copy(lakehouse, tmp_path):
    _seeded(lakehouse)

    outcomes = _race(lakehouse, tmp_path, same_writer=True)

    table = lakehouse.read("bronze.race")
    per_round = Counter(pc.filter(table["round"], pc.greater_equal(table["round"], 0)).to_pylist())
    assert per_round == {r: ROWS for r in range(ROUNDS)}  # exactly one copy of every round
    for r in range(ROUNDS):
        statuses = sorted(o["status"] for o in outcomes if o["round"] == r)
        assert statuses == ["committed", "skipped"], f"round {r}: {statuses}"
    # The writers raced for real: some loser passed the writer check, lost the commit to the
    # winner's txn (delta-rs ConcurrentTransaction), then found that txn and skipped.
    assert sum(o["lost_races"] for o in outcomes) >= 1
    assert lakehouse.transaction_version("bronze.race", "shared") == ROUNDS
    _assert_history_consistent(lakehouse)


@pytest.mark.integration
def test_two_processes_creating_the_same_table_both_land(lakehouse, tmp_path):
    outcomes = _race(lakehouse, tmp_path, same_writer=False)

    table = lakehouse.read("bronze.race")
    committed = [o for o in outcomes if o["status"] == "committed"]
    assert table.num_rows == ROWS * len(committed)
    assert all(count == ROWS for count in _rows_per(table).values())
    _assert_history_consistent(lakehouse)
