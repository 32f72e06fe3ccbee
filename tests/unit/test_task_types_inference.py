"""Batch inference per task type: the prediction columns, both engines, the predictions gate, publishing."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from mlops.inference import PREDICTIONS, STAGED_PREDICTIONS, ScoreRequest, prediction_output, score
from mlops.inference.publish import INFERENCE_LOG, log_columns, prediction_columns
from mlops.inference.scoring_set import input_columns, key_columns
from tests.unit.task_usecases import CLASSES
from usecases.flight_delay import usecase as flight_delay

pytestmark = pytest.mark.spark
DAY = date(2013, 1, 17)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return tmp_path_factory.mktemp("task_inference_registry")


def _scored(spark, tmp_path_factory, registry, name: str):
    from tests.unit.task_usecases.flow import scored_model

    home = tmp_path_factory.mktemp(f"{name}_inference")
    return scored_model(spark, home, name, (DAY,), date(2013, 1, 16), 16, registry=registry)


@pytest.fixture(scope="module")
def minutes(spark, tmp_path_factory, registry):
    with _scored(spark, tmp_path_factory, registry, "delay_minutes") as env:
        yield env


@pytest.fixture(scope="module")
def classes(spark, tmp_path_factory, registry):
    with _scored(spark, tmp_path_factory, registry, "delay_class") as env:
        yield env


def _pyfunc_output(env, frame):
    """The logged model's own output on the model inputs of `frame` (the inference log's rows)."""
    import mlflow.pyfunc

    from mlops.inference.engines import model_signature
    from mlops.training.estimator import model_input_frame

    signature = model_signature(env.model)
    inputs = model_input_frame(frame, list(signature), signature)
    return np.asarray(mlflow.pyfunc.load_model(env.model.uri).predict(inputs))


def _published(env):
    """gold.predictions joined to the inputs the inference log kept, in key order."""
    keys = list(key_columns(env.usecase))
    logged = env.lake.read_pandas(INFERENCE_LOG, columns=[*keys, *input_columns(env.usecase)])
    predictions = env.lake.read_pandas(PREDICTIONS)
    return predictions.merge(logged, on=keys).sort_values(keys).reset_index(drop=True)


def test_binary_prediction_columns_are_unchanged():
    flights = flight_delay()
    keys = key_columns(flights)
    assert prediction_columns(flights) == (
        *keys, "entity_date", "probability", "decision", "threshold",
        "model_name", "model_version", "model_run_id", "scored_at", "airflow_run_id",
    )  # fmt: skip
    assert log_columns(flights) == (
        *keys, "entity_date", *input_columns(flights), "probability", "model_name", "model_version", "scored_at",
    )  # fmt: skip


def test_regression_predictions_hold_the_predicted_value_and_no_decision(minutes):
    published = _published(minutes)
    assert tuple(minutes.lake.schema(PREDICTIONS).names) == prediction_columns(minutes.usecase)
    assert "prediction" in published and not {"probability", "decision", "threshold"} & set(published)
    values = published["prediction"].to_numpy()
    assert np.isfinite(values).all() and values.std() > 0 and not ((values >= 0) & (values <= 1)).all()
    np.testing.assert_allclose(values, _pyfunc_output(minutes, published), rtol=0, atol=1e-9)
    logged = minutes.lake.read(INFERENCE_LOG)
    assert logged.column_names[-4:] == ["prediction", "model_name", "model_version", "scored_at"]


def test_multiclass_predictions_hold_the_class_its_probability_and_every_probability(classes):
    published = _published(classes)
    assert tuple(classes.lake.schema(PREDICTIONS).names) == prediction_columns(classes.usecase)
    proba = np.vstack(published["probabilities"].to_numpy())
    np.testing.assert_allclose(proba, _pyfunc_output(classes, published), rtol=0, atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert published["prediction"].tolist() == [CLASSES[i] for i in proba.argmax(axis=1)]
    np.testing.assert_array_equal(published["probability"].to_numpy(), proba.max(axis=1))
    assert classes.lake.schema(PREDICTIONS).field("prediction").type == pa.int64()


def _staged(env, engine: str, spark=None) -> pa.Table:
    request = ScoreRequest(env.model, DAY, 0.3, f"engine_{engine}", prediction_output(env.usecase))
    score(env.lake, request, engine, spark)
    filters = [("entity_date", "=", DAY), ("model_version", "=", env.model.version)]
    table = env.lake.read(STAGED_PREDICTIONS, filters=filters)
    return table.sort_by([(c, "ascending") for c in key_columns(env.usecase)])


@pytest.mark.parametrize("name", ["minutes", "classes"])
def test_the_spark_engine_gives_the_arrow_engines_predictions(name, request, spark):
    env = request.getfixturevalue(name)
    by_arrow, by_spark = _staged(env, "arrow"), _staged(env, "spark", spark)
    output = prediction_output(env.usecase)
    assert by_spark.schema.names == by_arrow.schema.names
    for column in output.names:
        assert by_spark[column].to_pylist() == by_arrow[column].to_pylist(), column


def test_the_predictions_gate_refuses_non_finite_regression_values(minutes):
    from mlops.quality.pipeline_gates import GateFailedError, GateRequest, validate_predictions

    table = _staged(minutes, "arrow")
    broken = table.set_column(
        table.schema.get_field_index("prediction"),
        "prediction",
        pa.array([np.inf, *table["prediction"].to_pylist()[1:]], pa.float64()),
    )
    partition = {"entity_date": DAY, "model_version": minutes.model.version}
    minutes.lake.replace_partition(STAGED_PREDICTIONS, broken, partition=partition)
    gate = GateRequest(minutes.settings, minutes.lake, "predictions", DAY, "gate_test", minutes.model.version, False)
    with pytest.raises(GateFailedError, match="prediction"):
        validate_predictions(gate)


def test_the_predictions_gate_refuses_a_class_the_model_does_not_know(classes):
    from mlops.quality.pipeline_gates import GateFailedError, GateRequest, validate_predictions

    table = _staged(classes, "arrow")
    broken = table.set_column(
        table.schema.get_field_index("prediction"),
        "prediction",
        pa.array([7, *table["prediction"].to_pylist()[1:]], pa.int64()),
    )
    partition = {"entity_date": DAY, "model_version": classes.model.version}
    classes.lake.replace_partition(STAGED_PREDICTIONS, broken, partition=partition)
    gate = GateRequest(classes.settings, classes.lake, "predictions", DAY, "gate_test", classes.model.version, False)
    with pytest.raises(GateFailedError, match="prediction"):
        validate_predictions(gate)
