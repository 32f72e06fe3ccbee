"""Batch inference core: model resolution, the PIT scoring set, both engines, append-only publishing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from mlops.inference import (
    INFERENCE_LOG,
    PREDICTIONS,
    SCORING_SET,
    STAGED_PREDICTIONS,
    FeaturesNotReadyError,
    NoModelError,
    ScoreRequest,
    ScoringModel,
    SignatureMismatchError,
    already_published,
    build_scoring_set,
    prediction_output,
    publish,
    record_run,
    resolve_model,
    score,
)
from mlops.inference.scoring_set import input_columns, key_columns
from tests.unit._training import training_lakehouse
from usecases.flight_delay import usecase

USECASE = usecase()

pytestmark = pytest.mark.spark
DAY = date(2013, 1, 16)


@pytest.fixture(scope="module")
def env(spark, tmp_path_factory):
    """A private lakehouse (EWR, Jan 1-18) and registry holding one model trained up to Jan 14 (no alias yet)."""
    from mlflow import MlflowClient

    from mlops.training import RunIdentity, TrainingRequest, train_model

    home = tmp_path_factory.mktemp("inference")
    lake = training_lakehouse(home / "lakehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, lake.root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        settings = load_settings("staging")
        request = TrainingRequest(date(2013, 1, 14), 14, tuning_trials=1, who=RunIdentity(reason="inference test"))
        trained = train_model(spark, lake, settings, request)
        client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
        yield SimpleNamespace(lake=lake, settings=settings, version=trained.version, client=client, home=home)


@pytest.fixture(scope="module")
def staged(env, spark):
    """The scoring set of DAY, staged once."""
    return build_scoring_set(spark, env.lake, env.settings, DAY)


def _model(env) -> ScoringModel:
    mv = env.client.get_model_version(env.settings.mlflow.model_name, env.version)
    return ScoringModel(mv.name, str(mv.version), mv.run_id, "version")


def _request(env, model=None) -> ScoreRequest:
    return ScoreRequest(model or _model(env), DAY, 0.5, "manual__test", prediction_output(USECASE), batch_rows=1000)


def test_resolve_model_without_champion_says_so(env):
    with pytest.raises(NoModelError, match="has no champion yet"):
        resolve_model(env.settings)


def test_resolve_model_pins_the_champion_version(env):
    name = env.settings.mlflow.model_name
    env.client.set_registered_model_alias(name, "champion", env.version)
    try:
        model = resolve_model(env.settings)
    finally:
        env.client.delete_registered_model_alias(name, "champion")
    assert (model.version, model.source) == (str(env.version), "champion")
    assert model.uri == f"models:/{name}/{env.version}"  # a pinned version, never the moving alias


def test_resolve_model_refuses_unknown_selector_and_version(env):
    from mlops.registry import RegistryInputError

    with pytest.raises(ValueError, match="model_version must be 'champion'"):
        resolve_model(env.settings, "latest")
    with pytest.raises(RegistryInputError, match="v99 does not exist"):
        resolve_model(env.settings, "99")


def test_champion_of_the_time_follows_the_data_clock(env):
    from mlops.registry import Audit, DecisionRow, append_decisions

    name = env.settings.mlflow.model_name
    row = DecisionRow(name, str(env.version), "promotion", "champion", "promoted", "test")
    append_decisions(env.lake, [row], Audit(dag_id="test", run_id="champion_of_the_time"), "promotion")
    # Trained on flights to Jan 14, whose labels are complete a day later: the training cutoff is
    # 2013-01-16 00:00 UTC, so it can serve Jan 16 on, not before.
    with pytest.raises(NoModelError, match="was champion for 2013-01-15"):
        resolve_model(env.settings, "champion_of_the_time", date(2013, 1, 15), env.lake)
    model = resolve_model(env.settings, "champion_of_the_time", date(2013, 1, 16), env.lake)
    assert (model.version, model.source) == (str(env.version), "champion_of_the_time")


def test_scoring_set_has_every_scheduled_flight_with_typed_inputs(env, staged):
    schedule = env.lake.read("features.flight_schedule", filters=[("feature_date", "=", DAY)])
    rows = env.lake.read(SCORING_SET, filters=[("entity_date", "=", DAY)])
    assert staged.rows == rows.num_rows == schedule.num_rows > 100
    assert set(rows.column_names) == {*key_columns(USECASE), "entity_date", *input_columns(USECASE)}
    assert rows.schema.field("dest").type == pa.string() and rows.schema.field("distance").type == pa.float64()
    keys = rows.select(list(key_columns(USECASE))).to_pandas()
    assert not keys.duplicated().any()
    assert (keys["prediction_ts"].dt.tz_convert("America/New_York").dt.date <= DAY).all()


def test_scoring_set_refuses_a_date_without_published_features(env, spark):
    with pytest.raises(FeaturesNotReadyError, match="published up to 2013-01-18, not yet for 2013-01-19"):
        build_scoring_set(spark, env.lake, env.settings, date(2013, 1, 19))


def _staged_predictions(env, version) -> pa.Table:
    filters = [("entity_date", "=", DAY), ("model_version", "=", str(version))]
    return env.lake.read(STAGED_PREDICTIONS, filters=filters).sort_by([(c, "ascending") for c in key_columns(USECASE)])


def test_spark_and_arrow_engines_give_identical_predictions(env, spark, staged):
    import mlflow.pyfunc

    from mlops.inference.engines import model_signature
    from mlops.training.estimator import model_input_frame

    arrow = score(env.lake, _request(env), "arrow")
    by_arrow = _staged_predictions(env, env.version)
    by_spark_result = score(env.lake, _request(env), "spark", spark)
    by_spark = _staged_predictions(env, env.version)
    assert arrow.rows == by_spark_result.rows == staged.rows == by_spark.num_rows
    assert by_arrow["engine"].unique().to_pylist() == ["arrow"] and by_spark["engine"].unique().to_pylist() == ["spark"]
    p_arrow, p_spark = by_arrow["probability"].to_numpy(), by_spark["probability"].to_numpy()
    np.testing.assert_array_equal(p_arrow, p_spark)
    assert ((p_arrow > 0) & (p_arrow < 1)).all() and p_arrow.std() > 0.01  # real, varied probabilities
    # ... and both equal the model's own predict_proba on the same rows in memory.
    frame = by_arrow.to_pandas()
    model, signature = mlflow.pyfunc.load_model(_model(env).uri), model_signature(_model(env))
    expected = model.predict(model_input_frame(frame, list(signature), signature))[:, 1]
    np.testing.assert_allclose(p_arrow, expected, rtol=0, atol=1e-12)
    decision = by_arrow["decision"].to_numpy(zero_copy_only=False)
    assert (decision == (p_arrow >= 0.5)).all()


def test_signature_mismatch_fails_naming_columns_and_writes_nothing(env, staged, tmp_path):
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyClassifier

    frame = env.lake.read_pandas(SCORING_SET).head(20)[["distance"]].assign(foo=1.0)
    frame["distance"] = frame["distance"].astype(str)  # the model wants a string where the features have doubles
    fitted = DummyClassifier(strategy="prior").fit(frame, np.arange(len(frame)) % 2)
    mlflow.set_tracking_uri(env.settings.mlflow.tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            fitted, name="model", signature=infer_signature(frame), registered_model_name="signature_test",
            serialization_format="skops", pyfunc_predict_fn="predict_proba",
        )  # fmt: skip
    model = ScoringModel("signature_test", str(info.registered_model_version), info.run_id, "version")
    before = env.lake.version(STAGED_PREDICTIONS) if env.lake.exists(STAGED_PREDICTIONS) else None
    with pytest.raises(SignatureMismatchError) as caught:
        score(env.lake, _request(env, model), "arrow")
    message = str(caught.value)
    assert "missing columns ['foo']" in message and "distance (model expects string" in message
    after = env.lake.version(STAGED_PREDICTIONS) if env.lake.exists(STAGED_PREDICTIONS) else None
    assert after == before


def test_publish_appends_once_per_date_and_version(env, staged):
    score(env.lake, _request(env), "arrow")
    first = publish(env.lake, USECASE, DAY, str(env.version))
    assert first.predictions.rows == first.inference_log.rows == staged.rows
    assert already_published(env.lake, DAY, str(env.version))
    again = publish(env.lake, USECASE, DAY, str(env.version))
    assert again.predictions.skipped and again.inference_log.skipped
    assert env.lake.version(PREDICTIONS) == first.predictions.version
    predictions = env.lake.read_pandas(PREDICTIONS)
    assert len(predictions) == staged.rows and set(predictions["model_version"]) == {str(env.version)}
    assert {"probability", "decision", "model_run_id", "scored_at", "airflow_run_id"} <= set(predictions)
    log_rows = env.lake.read(INFERENCE_LOG)
    assert set(input_columns(USECASE)) <= set(log_rows.column_names) and log_rows.num_rows == staged.rows


def test_record_run_refuses_unknown_outcome_and_records_once(env):
    with pytest.raises(ValueError, match="outcome must be one of"):
        record_run(env.lake, {"outcome": "done"}, "run1")
    row = {"entity_date": DAY, "outcome": "empty", "message": "no flights", "rows": 0}
    first, again = record_run(env.lake, row, "run1"), record_run(env.lake, row, "run1")
    assert not first.skipped and again.skipped


def test_scoring_timestamps_are_utc(env):
    predictions = env.lake.read(PREDICTIONS)
    assert predictions.schema.field("scored_at").type == pa.timestamp("us", tz="UTC")
    assert predictions["scored_at"][0].as_py() <= datetime.now(UTC)


def test_a_publish_killed_between_its_appends_is_completed_by_the_retry_as_scored(env, spark, monkeypatch):
    from mlops.inference.batch import publish_dates
    from mlops.inference.publish import INFERENCE_RUNS

    day, version, run_id = date(2013, 1, 18), str(env.version), "manual__killed_publish"
    staged = build_scoring_set(spark, env.lake, env.settings, day)
    score(env.lake, ScoreRequest(_model(env), day, 0.5, run_id, prediction_output(USECASE)), "arrow")
    real = env.lake.write_batches

    def killed_before_the_log(name, *args, **kwargs):
        if name == INFERENCE_LOG:
            raise ConnectionError("worker killed between the two appends")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(env.lake, "write_batches", killed_before_the_log)
    with pytest.raises(ConnectionError):
        publish_dates(env.lake, env.settings, [day], version, run_id)
    monkeypatch.setattr(env.lake, "write_batches", real)
    assert not already_published(env.lake, day, version)

    retried = publish_dates(env.lake, env.settings, [day], version, run_id)
    on_day = [("entity_date", "=", day), ("model_version", "=", version)]
    assert env.lake.read(PREDICTIONS, filters=on_day).num_rows == staged.rows
    assert env.lake.read(INFERENCE_LOG, filters=on_day).num_rows == staged.rows
    assert retried["inference_log_rows"] == staged.rows and already_published(env.lake, day, version)
    runs = env.lake.read_pandas(INFERENCE_RUNS)
    runs = runs[(runs["airflow_run_id"] == run_id) & (runs["entity_date"] == day)]
    assert list(runs["outcome"]) == ["scored"] and list(runs["rows"]) == [staged.rows]


def _scoring_inputs(spark, lake, settings, day) -> pd.DataFrame:
    build_scoring_set(spark, lake, settings, day)
    staged = lake.read_pandas(SCORING_SET, filters=[("entity_date", "=", day)])
    return staged.sort_values(list(key_columns(USECASE))).reset_index(drop=True)


def test_scoring_inputs_of_a_date_do_not_change_once_the_next_day_is_published(env, spark, tmp_path):
    from mlops.features.pit import max_ages, point_in_time_join, prediction_entities

    day = date(2013, 1, 15)
    first = training_lakehouse(tmp_path / "lakehouse")  # the lakehouse when `day` is first scored
    for table in USECASE.features.tables:
        first.table(table.name).delete(f"{table.date_column} > '{day}'")
    at_first = _scoring_inputs(spark, first, env.settings, day)
    at_rerun = _scoring_inputs(spark, env.lake, env.settings, day)  # Jan 16-18 published since
    pd.testing.assert_frame_equal(at_first, at_rerun)
    # The case is exercised: some predictions of the day are due at or after 00:00 UTC of the next day,
    # where a join without the partition rule reads the next day's snapshots.
    due = pd.to_datetime(at_first["prediction_ts"], utc=True)
    assert (due >= pd.Timestamp("2013-01-16", tz="UTC")).sum() > 0
    entities = prediction_entities(spark, env.lake, USECASE, day, day)
    limits = max_ages(env.settings, USECASE.features.tables)
    ignoring = point_in_time_join(spark, entities, env.lake, USECASE.features.tables, max_age=limits, date_column="")
    columns = [*key_columns(USECASE), "origin_flights_1d"]
    unruled = ignoring.frame.select(*columns).toPandas().sort_values(list(key_columns(USECASE)))
    ignoring.unpersist()
    ruled, unruled = at_first["origin_flights_1d"].to_numpy(), unruled["origin_flights_1d"].to_numpy()
    same = (ruled == unruled) | (pd.isna(ruled) & pd.isna(unruled))
    assert (~same).sum() > 0
