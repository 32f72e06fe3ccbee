"""Training on the synthetic weeks: the platform's training run logs, registers, and beats the baseline."""

from __future__ import annotations

import pytest

from ._lake import FIRST, LAST

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def trained(spark, lake, tmp_path_factory):
    from mlops.training import RunIdentity, TrainingRequest, train_model

    home = tmp_path_factory.mktemp("training")
    lakehouse, settings = lake
    mlflow = settings.mlflow.model_copy(update={"tracking_uri": f"sqlite:///{home / 'mlflow.db'}"})
    settings = settings.model_copy(update={"mlflow": mlflow})
    request = TrainingRequest(LAST, (LAST - FIRST).days + 1, who=RunIdentity(reason="use-case test"))
    return settings, train_model(spark, lakehouse, settings, request)


def test_a_model_is_trained_registered_and_beats_its_baseline_held_out(trained):
    from mlflow import MlflowClient

    settings, result = trained
    metrics = result.metrics
    assert metrics["test_rows"] == metrics["baseline_rows"] >= settings.data.customers * 3
    assert metrics["test_roc_auc"] > metrics["baseline_roc_auc"] + 0.01, metrics
    assert metrics["test_roc_auc"] >= settings.promotion.baseline_roc_auc
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    assert client.get_model_version(settings.mlflow.model_name, result.version).status == "READY"


def test_the_registered_model_gives_probabilities(trained):
    import mlflow.pyfunc
    import numpy as np

    _, result = trained
    model = mlflow.pyfunc.load_model(result.model_uri)
    scores = np.asarray(model.predict(model.input_example))
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
