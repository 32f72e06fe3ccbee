"""Table maintenance on real Delta tables: compaction, vacuum outside the retention window only, staging trimmed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.config import ConfigError, MaintenanceSettings, load_settings
from mlops.errors import NothingToDo
from mlops.maintenance import MaintenanceRefusal, maintain_table, maintain_tables
from tests.unit._aged_tables import D1, age_commits, aged_lakehouse, data_files, ids, rows

RULES = MaintenanceSettings(vacuum_retention_hours=24, staging_retention_days=7)
AGED_HOURS = 72  # commits moved this far back are outside the 24 h window


@pytest.fixture(scope="module")
def maintained(tmp_path_factory):
    """A published table with old and recent versions, two staging tables, then one maintenance run."""
    lake, old_files = aged_lakehouse(tmp_path_factory.mktemp("maintenance") / "lakehouse", AGED_HOURS)
    inside_window = datetime.now(UTC) - timedelta(hours=23)
    before = SimpleNamespace(
        gold=ids(lake.read("gold.scores")),
        v5=ids(lake.read("gold.scores", version=5)),
        as_of=ids(lake.read("gold.scores", as_of=inside_window)),
        staging_version=lake.version("staging.scores"),
    )
    settings = load_settings("staging").model_copy(update={"maintenance": RULES})
    report = maintain_tables(lake, settings, run_id="manual__test")
    again = maintain_tables(lake, settings, run_id="manual__again")
    upkeep = {t.table: t for t in report.tables}
    return SimpleNamespace(
        lake=lake, report=report, upkeep=upkeep, again=again, before=before, old_files=old_files, as_of=inside_window
    )


def test_maintenance_covers_every_delta_table_and_skips_report_folders(maintained):
    assert list(maintained.upkeep) == ["gold.scores", "staging.flat", "staging.scores"]


def test_maintenance_compacts_a_partitions_small_files_keeping_itsrows(maintained):
    gold = maintained.upkeep["gold.scores"]
    assert (gold.files_compacted, gold.files_written, gold.active_files) == (3, 1, 1)
    assert ids(maintained.lake.read("gold.scores")) == maintained.before.gold == [10, 11, 12, 13]


def test_vacuum_deletes_the_files_removed_before_the_window(maintained):
    gold = maintained.upkeep["gold.scores"]
    assert gold.files_vacuumed == len(maintained.old_files) == 4
    assert not maintained.old_files & data_files(maintained.lake, "gold.scores")
    with pytest.raises(Exception, match=r"(?i)not found|no such file"):  # v2 is outside the window: gone
        maintained.lake.read("gold.scores", version=2)


def test_time_travel_inside_the_window_still_reads_after_maintenance(maintained):
    lake = maintained.lake
    assert ids(lake.read("gold.scores", version=5)) == maintained.before.v5 == [10, 11, 12]
    # 23 h ago is inside the window: the version then (v4, committed 72 h ago) still has its file
    assert ids(lake.read("gold.scores", as_of=maintained.as_of)) == maintained.before.as_of == [10, 11]
    # the files compaction just replaced stay until they are older than the window
    assert ids(lake.read("gold.scores", version=6)) == [10, 11, 12, 13]


def test_staging_keeps_the_retention_days_back_from_its_newest_date(maintained):
    lake, staged = maintained.lake, maintained.upkeep["staging.scores"]
    days = sorted(set(lake.read("staging.scores").column("score_date").to_pylist()))
    assert days == [D1 + timedelta(days=i) for i in range(3, 10)]  # 7 days: Jan 4-10
    assert (staged.staging_cutoff, staged.rows_deleted) == (date(2013, 1, 4), 6)
    # the delete is a new version: the trimmed days stay readable before it, inside the window
    assert len(lake.read("staging.scores", version=maintained.before.staging_version)) == 20
    assert maintained.report.summary()["staging_cutoffs"] == {"staging.scores": "2013-01-04"}


def test_staging_without_a_date_partition_is_left_whole(maintained):
    assert maintained.upkeep["staging.flat"].staging_cutoff is None
    assert ids(maintained.lake.read("staging.flat")) == [1, 2]


def test_maintenance_records_its_run_in_each_commit(maintained):
    history = maintained.lake.history("staging.scores", limit=1)[0]
    assert (history["operation"], history["airflow_run_id"]) == ("DELETE", "manual__test")


def test_a_second_maintenance_run_commits_nothing(maintained):
    assert [t.version_after for t in maintained.again.tables] == [t.version_after for t in maintained.report.tables]
    assert maintained.again.summary()["rows_deleted"] == maintained.again.summary()["files_vacuumed"] == 0


def test_a_table_asking_for_a_longer_retention_keeps_it(lakehouse):
    lakehouse.append("gold.kept", rows([1]))
    lakehouse.replace_partition("gold.kept", rows([2]), partition={"score_date": D1})
    lakehouse.table("gold.kept").alter.set_table_properties({"delta.deletedFileRetentionDuration": "interval 30 days"})
    age_commits(lakehouse, "gold.kept", range(2), AGED_HOURS)

    upkeep = maintain_table(lakehouse, "gold.kept", RULES)

    assert (upkeep.retention_hours, upkeep.files_vacuumed) == (720, 0)
    assert ids(lakehouse.read("gold.kept", version=0)) == [1]


def test_a_table_retention_that_cannot_be_read_is_refused_naming_the_table(lakehouse):
    lakehouse.append("gold.odd", rows([1]))
    path = Path(lakehouse.uri("gold.odd")) / "_delta_log" / f"{0:020d}.json"
    actions = [json.loads(line) for line in path.read_text().splitlines()]
    for action in actions:
        if "metaData" in action:
            action["metaData"]["configuration"] = {"delta.deletedFileRetentionDuration": "a fortnight"}
    path.write_text("".join(json.dumps(a) + "\n" for a in actions))

    with pytest.raises(MaintenanceRefusal, match=r"Not vacuuming gold\.odd: .*'a fortnight'"):
        maintain_table(lakehouse, "gold.odd", RULES)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"vacuum_retention_hours": 0}, r"maintenance\.vacuum_retention_hours: Input should be greater than or equal"),
        ({"staging_retention_days": 0}, r"maintenance\.staging_retention_days: Input should be greater than or equal"),
        ({"retention_hours": 24}, r"maintenance\.retention_hours: unknown key \(allowed here: vacuum_retention_hours"),
    ],
)
def test_a_bad_retention_setting_is_refused_naming_the_key(monkeypatch, override, message):
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"maintenance": override}))

    with pytest.raises(ConfigError, match=message):
        load_settings("staging")


def test_an_empty_lakehouse_has_nothing_to_maintain(lakehouse):
    with pytest.raises(NothingToDo, match="No Delta tables under"):
        maintain_tables(lakehouse, load_settings("staging"))
