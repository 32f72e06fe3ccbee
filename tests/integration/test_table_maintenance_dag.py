"""table_maintenance end to end through Airflow (dag.test), staging config, a lakehouse with old versions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT
from tests.unit._aged_tables import aged_lakehouse, data_files, ids

USECASE = "flight_delay"  # the use case the staging config enables
AGED_HOURS = 72  # beyond staging's maintenance.vacuum_retention_hours (24)

pytestmark = pytest.mark.integration


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture(scope="module")
def maintained(dagbag, tmp_path_factory):
    """One run over a lakehouse with old versions and ten staged days, one over a use case with no tables."""
    home = tmp_path_factory.mktemp("table_maintenance")
    lake, old_files = aged_lakehouse(home / "lakehouse" / USECASE, AGED_HOURS)
    dag = dagbag.dags[f"{USECASE}.table_maintenance"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, str(home / "lakehouse"))
        run = dag.test(logical_date=datetime(2013, 1, 14, tzinfo=UTC))
        summary = run.get_task_instance("maintain_tables").xcom_pull(task_ids="maintain_tables")
        patch.setenv(ENV_LAKEHOUSE_ROOT, str(home / "empty"))
        empty = dag.test(logical_date=datetime(2013, 1, 21, tzinfo=UTC))
    return SimpleNamespace(lake=lake, old_files=old_files, run=run, summary=summary, empty=empty)


def test_table_maintenance_run_succeeds_and_reports_its_totals(maintained):
    assert str(maintained.run.state) == "success", _states(maintained.run)
    summary = maintained.summary
    assert (summary["tables"], summary["rows_deleted"], summary["files_vacuumed"]) == (3, 6, 4)
    assert (summary["files_compacted"], summary["files_written"]) == (3, 1)
    assert summary["staging_cutoffs"] == {"staging.scores": "2013-01-04"}


def test_table_maintenance_vacuums_old_files_and_keeps_the_window_readable(maintained):
    lake = maintained.lake
    assert not maintained.old_files & data_files(lake, "gold.scores")
    assert ids(lake.read("gold.scores")) == [10, 11, 12, 13]
    assert ids(lake.read("gold.scores", version=5)) == [10, 11, 12]  # inside the window
    assert min(lake.read("staging.scores").column("score_date").to_pylist()) == date(2013, 1, 4)
    assert lake.history("staging.scores", limit=1)[0]["airflow_run_id"] == maintained.run.run_id


def test_table_maintenance_without_tables_is_skipped(maintained):
    assert _states(maintained.empty) == {"maintain_tables": "skipped"}
