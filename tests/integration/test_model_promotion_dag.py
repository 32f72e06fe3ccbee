"""model_promotion and model_rollback end to end through Airflow (dag.test), staging config, own registry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from tests.unit._training import training_lakehouse

USECASE = "flight_delay"  # the use case the staging config enables

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def promoted(dagbag, spark, tmp_path_factory):
    """One version trained up to Jan 14, then promoted twice by dag.test (the second is a retry-like re-run)."""
    from mlflow import MlflowClient

    from mlops.training import RunIdentity, TrainingRequest, train_model

    home = tmp_path_factory.mktemp("model_promotion")
    lake = training_lakehouse(home / "lakehouse" / USECASE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, str(Path(lake.root).parent))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")  # a registry with no champion yet
        settings = load_settings("staging")
        who = RunIdentity(reason="promotion test")
        version = train_model(spark, lake, settings, TrainingRequest(date(2013, 1, 14), 14, who=who)).version
        dag = dagbag.dags[f"{USECASE}.model_promotion"]
        first = dag.test(logical_date=datetime(2013, 1, 19, tzinfo=UTC), run_conf={"version": version})
        again = dag.test(logical_date=datetime(2013, 1, 20, tzinfo=UTC), run_conf={"version": version})
        rollback = dagbag.dags[f"{USECASE}.model_rollback"].test(logical_date=datetime(2013, 1, 21, tzinfo=UTC))
        client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
        mv = client.get_model_version(settings.mlflow.model_name, version)
        aliases = dict(client.get_registered_model(settings.mlflow.model_name).aliases)
    runs = {"first": first, "again": again, "rollback": rollback}
    return SimpleNamespace(lake=lake, version=version, mv=mv, aliases=aliases, **runs)


def test_model_promotion_first_deployment_makes_champion(promoted):
    assert str(promoted.first.state) == "success"
    assert {k: str(v) for k, v in promoted.aliases.items()} == {"champion": promoted.version}
    assert promoted.mv.tags["cd.compliance"] == "passed" and promoted.mv.tags["cd.status"] == "champion"
    from urllib.parse import quote

    assert f"/dags/{USECASE}.model_promotion/runs/{quote(promoted.first.run_id, safe='')}" in promoted.mv.description


def test_model_promotion_writes_one_row_per_check_and_decision(promoted):
    rows = promoted.lake.read_pandas("monitoring.cd_decisions")
    first = rows[rows["airflow_run_id"] == promoted.first.run_id]
    steps = first.groupby("step")["outcome"].apply(list).to_dict()
    assert steps["compliance"] == ["passed"] * 9  # eight checks and the decision
    assert steps["comparison"][-1] == "passed" and steps["approval"] == ["approved"]
    assert steps["promotion"] == ["promoted"]
    assert first.loc[first["check"] == "roc_auc", "threshold"].tolist() == [0.55]


def test_model_promotion_rerun_does_not_double_promote(promoted):
    rows = promoted.lake.read_pandas("monitoring.cd_decisions")
    again = rows[(rows["airflow_run_id"] == promoted.again.run_id) & (rows["step"] == "promotion")]
    assert str(promoted.again.state) == "success" and again["outcome"].tolist() == ["already_champion"]


def test_model_promotion_emits_champion_changed_event(promoted):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        name = f"mlflow.models.{load_settings('staging').mlflow.model_name}.champion"  # each use case has its own
        asset = session.query(AssetModel).filter(AssetModel.name == name).one()
        # Other tests' DAG runs share this metadata DB: only the first promotion run's events count.
        query = session.query(AssetEvent).filter(
            AssetEvent.asset_id == asset.id, AssetEvent.source_run_id == promoted.first.run_id
        )
        events = [e.extra for e in query]
    assert {"version": promoted.version, "outcome": "promoted"}.items() <= events[0].items()


def test_model_rollback_without_previous_champion_fails_and_moves_nothing(promoted):
    assert str(promoted.rollback.state) == "failed"
    assert {k: str(v) for k, v in promoted.aliases.items()} == {"champion": promoted.version}


def test_resolve_versions_takes_every_queued_event():
    from model_promotion import resolve_versions

    events = {"asset": [SimpleNamespace(extra={"version": "4"}), SimpleNamespace(extra={"version": "3"})]}
    assert resolve_versions.function(params={"version": None}, triggering_asset_events=events) == ["3", "4"]
