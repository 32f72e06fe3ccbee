"""batch_inference end to end through Airflow (dag.test), staging config, a private lakehouse and registry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from tests.unit._training import training_lakehouse

USECASE = "flight_delay"  # the use case the staging config enables

pytestmark = pytest.mark.integration


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _at(day: int) -> datetime:
    return datetime(2013, 1, day, tzinfo=UTC)


def _conf(**given) -> dict:
    """A full run conf: in-process dag.test runs share the DAG's Param objects, so every run sets them all."""
    return {"date": None, "days": 1, "model_version": "champion", "engine": "config", **given}


@pytest.fixture(scope="module")
def runs(dagbag, spark, tmp_path_factory):
    """No champion (Jan 15); champion v1 scores Jan 16 twice; v2 backfills Jan 16 and Jan 18 on Spark; Jan 17 empty."""
    import mlflow
    from mlflow import MlflowClient

    from mlops.registry import Audit, DecisionRow, append_decisions
    from mlops.training import RunIdentity, TrainingRequest, train_model

    home = tmp_path_factory.mktemp("batch_inference")
    lake = training_lakehouse(home / "lakehouse" / USECASE)
    lake.table("features.flight_schedule").delete("feature_date = '2013-01-17'")  # a day without flights
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, str(Path(lake.root).parent))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        settings = load_settings("staging")
        name, client = settings.mlflow.model_name, MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
        dag = dagbag.dags[f"{USECASE}.batch_inference"]
        out = SimpleNamespace(lake=lake, settings=settings)
        out.no_champion = dag.test(logical_date=_at(15), run_conf=_conf())
        request = TrainingRequest(date(2013, 1, 14), 14, tuning_trials=1, who=RunIdentity(reason="inference dag test"))
        trained = train_model(spark, lake, settings, request)
        out.v1 = str(trained.version)
        mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
        out.v2 = str(mlflow.register_model(f"runs:/{trained.run_id}/model", name).version)  # same artifacts
        client.set_registered_model_alias(name, "champion", out.v1)
        row = DecisionRow(name, out.v1, "promotion", "champion", "promoted", "test")
        append_decisions(lake, [row], Audit(dag_id="test", run_id="promote_v1"), "promotion")
        out.scored = dag.test(logical_date=_at(16), run_conf=_conf())
        out.rerun = dag.test(logical_date=_at(20), run_conf=_conf(date="2013-01-16"))
        out.other_version = dag.test(logical_date=_at(21), run_conf=_conf(date="2013-01-16", model_version=out.v2))
        out.backfill = dag.test(
            logical_date=_at(22), run_conf=_conf(date="2013-01-18", model_version=out.v2, engine="spark")
        )
        out.of_the_time = dag.test(
            logical_date=_at(23), run_conf=_conf(date="2013-01-18", model_version="champion_of_the_time")
        )
        out.empty = dag.test(logical_date=_at(17), run_conf=_conf())
        out.two_days = dag.test(logical_date=_at(24), run_conf=_conf(date="2013-01-15", days=2))
    return out


def test_no_champion_skips_the_run_with_a_reason(runs):
    assert str(runs.no_champion.state) == "success"
    assert set(_states(runs.no_champion).values()) == {"skipped"}
    logged = runs.lake.read_pandas("monitoring.inference_runs")
    row = logged[logged["airflow_run_id"] == runs.no_champion.run_id].iloc[0]
    assert row["outcome"] == "no_model" and "No registered model flight_delay_staging" in row["message"]


def test_champion_scores_every_scheduled_flight_of_the_date(runs):
    assert str(runs.scored.state) == "success", _states(runs.scored)
    schedule = runs.lake.read("features.flight_schedule", filters=[("feature_date", "=", date(2013, 1, 16))])
    v1_day16 = [("model_version", "=", runs.v1), ("entity_date", "=", date(2013, 1, 16))]
    predictions = runs.lake.read_pandas("gold.predictions", filters=v1_day16)
    assert len(predictions) == schedule.num_rows > 100
    assert set(predictions["entity_date"]) == {date(2013, 1, 16)}
    assert predictions["probability"].between(0, 1).all() and predictions["probability"].notna().all()
    assert (predictions["airflow_run_id"] == runs.scored.run_id).all()
    assert predictions["model_run_id"].nunique() == 1
    log_rows = runs.lake.read_pandas("monitoring.inference_log", filters=v1_day16)
    assert len(log_rows) == len(predictions) and log_rows["distance"].notna().all()


def test_rerun_of_a_scored_date_adds_nothing(runs):
    assert str(runs.rerun.state) == "success"
    assert _states(runs.rerun)["build_scoring_set"] == "skipped"
    rerun_rows = runs.lake.read("gold.predictions", filters=[("airflow_run_id", "=", runs.rerun.run_id)])
    assert rerun_rows.num_rows == 0
    logged = runs.lake.read_pandas("monitoring.inference_runs")
    row = logged[logged["airflow_run_id"] == runs.rerun.run_id].iloc[0]
    assert row["outcome"] == "already_scored" and "already scored by" in row["message"]


def test_another_version_appends_beside_the_old_predictions(runs):
    assert str(runs.other_version.state) == "success", _states(runs.other_version)
    day16 = runs.lake.read_pandas("gold.predictions", filters=[("entity_date", "=", date(2013, 1, 16))])
    counts = day16.groupby("model_version").size().to_dict()
    assert counts[runs.v1] == counts[runs.v2] > 100  # history kept: both versions' rows are there


def test_backfill_with_a_given_version_and_the_spark_engine(runs):
    assert str(runs.backfill.state) == "success", _states(runs.backfill)
    logged = runs.lake.read_pandas("monitoring.inference_runs")
    row = logged[logged["airflow_run_id"] == runs.backfill.run_id].iloc[0]
    assert (row["outcome"], row["engine"], row["model_version"]) == ("scored", "spark", runs.v2)


def test_champion_of_the_time_resolves_from_the_decisions_table(runs):
    assert str(runs.of_the_time.state) == "success", _states(runs.of_the_time)
    rows = runs.lake.read_pandas("gold.predictions", filters=[("airflow_run_id", "=", runs.of_the_time.run_id)])
    assert set(rows["model_version"]) == {runs.v1} and set(rows["entity_date"]) == {date(2013, 1, 18)}


def test_a_date_without_flights_is_recorded_and_does_not_fail(runs):
    assert str(runs.empty.state) == "success"
    states = _states(runs.empty)
    assert states["resolve_model"] == "success" and states["publish"] == "skipped"
    logged = runs.lake.read_pandas("monitoring.inference_runs")
    row = logged[logged["airflow_run_id"] == runs.empty.run_id].iloc[0]
    assert row["outcome"] == "empty" and "No flights on 2013-01-17 in features.flight_schedule" in row["message"]


def test_publish_emits_predictions_asset_event_with_rows(runs):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.name == f"{USECASE}.gold.predictions").one()
        extras = [e.extra for e in session.query(AssetEvent).filter(AssetEvent.asset_id == asset.id)]
    assert any(e.get("model_version") == runs.v1 and e.get("rows", 0) > 100 for e in extras)


def test_a_run_over_two_dates_scores_the_new_one_and_keeps_the_scored_one(runs):
    """days=2 from Jan 15: Jan 15 is scored by the champion; Jan 16 (already scored by it) gains no rows."""
    assert str(runs.two_days.state) == "success"
    predictions = runs.lake.read_pandas("gold.predictions")
    champion = predictions[predictions["model_version"] == runs.v1]
    flights = runs.lake.read_pandas("features.flight_schedule", columns=["feature_date"])["feature_date"]
    per_date = champion.groupby(champion["entity_date"].astype(str)).size().to_dict()
    assert per_date["2013-01-15"] == int((flights.astype(str) == "2013-01-15").sum())
    assert per_date["2013-01-16"] == int((flights.astype(str) == "2013-01-16").sum())  # not twice
    outcomes = runs.lake.read_pandas("monitoring.inference_runs")
    mine = outcomes[outcomes["airflow_run_id"] == runs.two_days.run_id]
    assert dict(zip(mine["entity_date"].astype(str), mine["outcome"], strict=True)) == {
        "2013-01-15": "scored",
        "2013-01-16": "already_scored",
    }
