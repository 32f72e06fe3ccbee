"""Training the bike-demand model on four weeks of real 2011 data: the platform's training run, logged and registered.

The held-out figures are reported, not asserted against the baseline: the test proves the pipeline runs on this
use case and logs finite regression metrics next to the seasonal-naive baseline's on the same held-out hours.
"""

from __future__ import annotations

import math
import shutil
from datetime import date

import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT
from mlops.lakehouse import Lakehouse
from tests.unit._bike import shared_lakehouse

pytestmark = [pytest.mark.spark, pytest.mark.slow]
FIRST, LAST = date(2011, 3, 4), date(2011, 4, 28)
METRICS = ("rmse", "mae", "r2")


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    from mlops.training import RunIdentity, TrainingRequest, train_model

    template, settings = shared_lakehouse(spark, FIRST, LAST)
    home = tmp_path_factory.mktemp("bike_training")
    shutil.copytree(template.root, home / "lakehouse")
    lake = Lakehouse(str(home / "lakehouse"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, lake.root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        training = settings.training.model_copy(update={"test_days": 7, "tuning_trials": 4})
        mlflow = settings.mlflow.model_copy(update={"tracking_uri": f"sqlite:///{home / 'mlflow.db'}"})
        settings = settings.model_copy(update={"training": training, "mlflow": mlflow})
        request = TrainingRequest(LAST, 28, who=RunIdentity(reason="bike_demand test"))
        yield lake, settings, train_model(spark, lake, settings, request)


def test_a_model_is_trained_logged_and_registered_with_finite_regression_metrics(trained):
    from mlflow import MlflowClient

    _, settings, result = trained
    metrics = result.metrics
    for who in ("test", "baseline"):
        assert all(math.isfinite(metrics[f"{who}_{m}"]) for m in METRICS), metrics
    assert metrics["test_rows"] == metrics["baseline_rows"] >= 7 * 24 - 2
    run = MlflowClient(tracking_uri=settings.mlflow.tracking_uri).get_run(result.run_id)
    assert {"test_rmse", "test_mae", "baseline_rmse", "rmse_lift", "mae_lift"} <= set(run.data.metrics)
    print(
        "\nbike_demand held out {first}..{last} ({rows:.0f} hours): model RMSE {test_rmse:.1f} MAE {test_mae:.1f} "
        "R2 {test_r2:.3f}; seasonal naive RMSE {baseline_rmse:.1f} MAE {baseline_mae:.1f} R2 {baseline_r2:.3f}".format(
            first=date(2011, 4, 22), last=LAST, rows=metrics["test_rows"], **metrics
        )
    )


def test_the_registered_model_predicts_riders_from_its_pyfunc(trained):
    import mlflow.pyfunc
    import numpy as np

    _, _, result = trained
    model = mlflow.pyfunc.load_model(result.model_uri)
    values = np.asarray(model.predict(model.input_example))
    assert np.isfinite(values).all() and (values > -50).all() and values.max() > 1.0
