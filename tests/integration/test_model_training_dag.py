"""model_training end to end through Airflow (dag.test) on the staging config, on real feature tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from tests.unit._training import LAST, WINDOW_DAYS, training_lakehouse

USECASE = "flight_delay"  # the use case the staging config enables

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(dagbag, tmp_path_factory):
    from mlflow import MlflowClient

    home = tmp_path_factory.mktemp("model_training")
    lake = training_lakehouse(home / "lakehouse" / USECASE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, str(Path(lake.root).parent))  # the staging config, on this module's own tables
        # Its own registry: a unit test that trained on the same rows and code in the session's registry
        # would otherwise be this run's fingerprint twin, and training would rightly register nothing.
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        settings = load_settings("staging")
        client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
        before = len(client.search_model_versions(f"name='{settings.mlflow.model_name}'"))
        dag = dagbag.dags[f"{USECASE}.model_training"]
        conf = {"window_end": str(LAST), "window_days": WINDOW_DAYS, "reason": "drift: integration test"}
        run = dag.test(logical_date=datetime(2013, 1, 19, tzinfo=UTC), run_conf=conf)
        empty = dag.test(logical_date=datetime(2013, 7, 1, tzinfo=UTC), run_conf={"window_end": "2013-06-30"})
    return settings, client, lake, run, empty, before


def test_model_training_run_succeeds(trained):
    assert str(trained[3].state) == "success"


def test_model_training_registers_one_version_tagged_with_the_run_and_reason(trained):
    settings, client, _, run, _, before = trained
    versions = client.search_model_versions(f"name='{settings.mlflow.model_name}'")
    assert len(versions) == before + 1
    newest = max(versions, key=lambda v: int(v.version))
    assert newest.tags["airflow.run_id"] == run.run_id and newest.tags["mlops.reason"] == "drift: integration test"
    assert newest.tags["airflow.dag_id"] == f"{USECASE}.model_training" and not newest.aliases


def test_model_training_emits_model_registered_event_with_metadata(trained):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    settings, client, _, run, _, _ = trained
    name = f"mlflow.models.{settings.mlflow.model_name}"
    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.name == name).one()
        # Other tests' DAG runs share this metadata DB: only this run's events count.
        query = session.query(AssetEvent).filter(
            AssetEvent.asset_id == asset.id, AssetEvent.source_run_id == run.run_id
        )
        events = [e.extra for e in query]
    assert asset.uri == f"mlflow://models/{settings.mlflow.model_name}"
    assert len(events) == 1
    extra = events[0]
    assert {"model_name", "version", "run_id", "test_roc_auc", "baseline_roc_auc"} <= set(extra)
    assert client.get_run(extra["run_id"]).data.tags["airflow.run_id"] == run.run_id


def test_model_training_appends_training_runs_row(trained):
    _, _, lake, run, _, _ = trained
    rows = lake.read_pandas("monitoring.training_runs")
    assert rows["airflow_run_id"].tolist() == [run.run_id]


def test_model_training_fails_on_an_empty_window_and_registers_nothing(trained):
    settings, client, _, _, empty, before = trained
    assert str(empty.state) == "failed"
    assert len(client.search_model_versions(f"name='{settings.mlflow.model_name}'")) == before + 1
