"""train_model against real MLflow and Delta: what a run logs and registers, and refusals that register nothing."""

from __future__ import annotations

import shutil
from datetime import date

import pyarrow as pa
import pytest

from mlops.config import load_settings
from mlops.lakehouse import Lakehouse
from mlops.training import TRAINING_RUNS, RunIdentity, TrainingDataError, TrainingRequest, train_model
from mlops.training.track import code_version
from tests.unit._training import LAST, WINDOW_DAYS, training_lakehouse

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def settings():
    return load_settings("staging")


@pytest.fixture(scope="module")
def client(settings):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow.tracking_uri)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return training_lakehouse(tmp_path_factory.mktemp("track") / "lakehouse")


@pytest.fixture(scope="module")
def trained(spark, lake, settings):
    who = RunIdentity(reason="unit test", dag_id="model_training", run_id="manual__test")
    return train_model(spark, lake, settings, TrainingRequest(LAST, WINDOW_DAYS, who=who))


def _versions(client, settings) -> int:
    return len(client.search_model_versions(f"name='{settings.mlflow.model_name}'"))


def test_train_model_registers_a_version_with_description_tags_and_no_alias(trained, client, settings):
    version = client.get_model_version(settings.mlflow.model_name, trained.version)
    assert "Held-out ROC AUC" in version.description and "2013-01-01..2013-01-18" in version.description
    assert version.tags["mlops.run_id"] == trained.run_id and version.tags["airflow.run_id"] == "manual__test"
    assert "features.carrier_stats" in version.tags["mlops.data_versions"]
    assert version.aliases == []


def test_train_model_logs_params_metrics_and_tags(trained, client, settings):
    run = client.get_run(trained.run_id)
    assert run.data.tags["mlops.code_version"] == code_version() != ""
    assert (run.data.tags["mlops.env"], run.data.tags["mlops.reason"]) == ("staging", "unit test")
    assert run.data.tags["mlops.data_window"] == "2013-01-01..2013-01-18"
    assert {"test_roc_auc", "baseline_roc_auc", "roc_auc_lift", "test_brier", "test_calibration_error"} <= set(
        run.data.metrics
    )
    assert run.data.params["tuning_trials"] == str(settings.training.tuning_trials)


def test_train_model_logs_plots_tables_and_datasets_with_delta_versions(trained, client):
    import json

    names = {a.path for a in client.list_artifacts(trained.run_id, "plots")}
    assert names == {"plots/roc_curve.png", "plots/pr_curve.png", "plots/calibration.png"}
    assert {a.path for a in client.list_artifacts(trained.run_id, "evaluation")} >= {"evaluation/metrics.json"}
    inputs = client.get_run(trained.run_id).inputs.dataset_inputs
    by_name = {d.dataset.name: d for d in inputs}
    assert {"train", "validation", "test", "features.flight_schedule", "bronze.flights"} <= set(by_name)
    route = by_name["features.route_stats"]
    assert json.loads(route.dataset.source)["path"].endswith("features/route_stats")
    # MLflow's DeltaDatasetSource.to_dict drops version 0 (falsy), so the version is also an input tag
    assert {t.key: t.value for t in route.tags}["version"] == "0"


def test_train_model_logs_a_pyfunc_returning_probabilities(trained):
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(trained.model_uri)
    example = model.input_example.assign(temp=float("nan"))  # missing weather is a valid input
    proba = model.predict(example)
    assert proba.shape == (len(example), 2) and ((proba >= 0) & (proba <= 1)).all()
    assert model.metadata.get_input_schema().input_types()[0].name == "string"  # carrier stays categorical


def test_train_model_appends_its_metrics_to_training_runs(trained, lake):
    rows = lake.read_pandas(TRAINING_RUNS)
    row = rows[rows["run_id"] == trained.run_id].iloc[0]
    assert (row["model_version"], row["reason"]) == (trained.version, "unit test")
    assert row["test_roc_auc"] == pytest.approx(trained.metrics["test_roc_auc"])


def test_train_model_stores_a_reference_profile_with_the_model_and_in_delta(trained, client, lake):
    import mlflow

    from mlops.monitoring.profile import PREDICTION, ReferenceProfile
    from mlops.monitoring.reference import ARTIFACT, REFERENCE_PROFILES, load_reference
    from mlops.training.estimator import feature_columns
    from usecases.flight_delay import usecase

    logged = ReferenceProfile.from_json(mlflow.artifacts.load_text(f"runs:/{trained.run_id}/{ARTIFACT}"))
    stored = load_reference(lake, trained.model_name, trained.version)
    names = [f.name for f in stored.features]
    assert names == [*feature_columns(usecase()), PREDICTION] == [f.name for f in logged.features]
    rows = sum(trained.rows.values())
    distance = stored.feature("distance")
    assert distance.kind == "numeric" and distance.rows == rows and len(distance.edges) == len(distance.counts) + 1
    carrier = stored.feature("carrier")
    assert carrier.kind == "categorical" and sum(carrier.counts) + carrier.nulls == rows
    assert 0 < stored.feature(PREDICTION).mean < 1
    assert stored.feature("distance").counts == logged.feature("distance").counts
    assert lake.read(REFERENCE_PROFILES).num_rows == len(names)


def test_train_model_refuses_an_empty_window_and_registers_nothing(spark, lake, settings, client, trained):
    before = _versions(client, settings)
    with pytest.raises(TrainingDataError, match="Empty training window"):
        train_model(spark, lake, settings, TrainingRequest(date(2013, 6, 30), 10))
    assert _versions(client, settings) == before


def test_train_model_refuses_too_few_rows_and_registers_nothing(spark, lake, settings, client, trained):
    before = _versions(client, settings)
    with pytest.raises(TrainingDataError, match="Too few training rows"):
        train_model(spark, lake, settings, TrainingRequest(date(2013, 1, 9), 7))  # one training day
    assert _versions(client, settings) == before


def test_train_model_refuses_a_missing_feature_table_and_registers_nothing(spark, lake, settings, client, tmp_path):
    shutil.copytree(lake.root, tmp_path / "lake")
    shutil.rmtree(tmp_path / "lake" / "features" / "origin_weather")
    before = _versions(client, settings)
    with pytest.raises(TrainingDataError, match="features.origin_weather does not exist"):
        train_model(spark, Lakehouse(str(tmp_path / "lake")), settings, TrainingRequest(LAST, WINDOW_DAYS))
    assert _versions(client, settings) == before


def test_train_model_refuses_a_single_class_and_registers_nothing(spark, lake, settings, client, tmp_path):
    import pyarrow.compute as pc

    shutil.copytree(lake.root, tmp_path / "lake")
    copy = Lakehouse(str(tmp_path / "lake"))
    flights = copy.read("bronze.flights")
    on_time = flights.set_column(
        flights.schema.get_field_index("arr_delay"), "arr_delay", pa.array([0.0] * flights.num_rows)
    )
    assert pc.sum(pc.is_null(on_time["arr_delay"])).as_py() == 0
    shutil.rmtree(tmp_path / "lake" / "bronze" / "flights")
    copy.append("bronze.flights", on_time, partition_by=["date"])
    before = _versions(client, settings)
    with pytest.raises(TrainingDataError, match="Single class in the train split"):
        train_model(spark, copy, settings, TrainingRequest(LAST, WINDOW_DAYS))
    assert _versions(client, settings) == before


def test_train_model_tags_the_run_and_version_with_its_training_fingerprint(trained, client, settings):
    from mlops.training.fingerprint import FINGERPRINT_TAG

    mv = client.get_model_version(settings.mlflow.model_name, trained.version)
    fingerprint = mv.tags[FINGERPRINT_TAG]
    assert len(fingerprint) == 64
    assert client.get_run(trained.run_id).data.tags[FINGERPRINT_TAG] == fingerprint


def test_a_rerun_on_the_same_data_registers_nothing_and_returns_the_pending_version(
    spark, lake, settings, client, trained
):
    before, runs = _versions(client, settings), lake.read(TRAINING_RUNS).num_rows
    who = RunIdentity(reason="rerun", dag_id="model_training", run_id="manual__rerun")
    again = train_model(spark, lake, settings, TrainingRequest(LAST, WINDOW_DAYS, who=who))
    assert (again.version, again.run_id) == (trained.version, trained.run_id)
    assert again.summary()["test_roc_auc"] == trained.summary()["test_roc_auc"]
    assert _versions(client, settings) == before
    assert lake.read(TRAINING_RUNS).num_rows == runs


def test_a_rerun_after_cd_decided_the_same_model_is_nothing_to_do(spark, lake, settings, client, trained):
    from mlops.errors import NothingToDo

    name, before = settings.mlflow.model_name, _versions(client, settings)
    client.set_model_version_tag(name, trained.version, "cd.status", "champion")
    try:
        with pytest.raises(NothingToDo, match=rf"{name} v{trained.version} was trained on the same rows.*is champion"):
            train_model(spark, lake, settings, TrainingRequest(LAST, WINDOW_DAYS))
    finally:
        client.delete_model_version_tag(name, trained.version, "cd.status")
    assert _versions(client, settings) == before
