"""Performance monitoring per task type: window metrics, the direction-aware breach, the gate, one real day."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from mlops.config import MonitoringSettings
from mlops.monitoring.performance import LABEL, MONITORED, measure, performance_rule
from mlops.task_metrics import compute_metrics
from tests.unit.task_usecases import CLASSES, multiclass_usecase, regression_usecase
from usecases.flight_delay import usecase as flight_delay

FIRST, LAST = date(2013, 1, 10), date(2013, 1, 16)
RNG = np.random.default_rng(11)


def _binary_frame() -> pd.DataFrame:
    y = RNG.integers(0, 2, 300)
    p = np.clip(0.3 * y + RNG.uniform(0, 0.7, 300), 0, 1)
    p[:2] = (0.0, 1.0)  # clipped to [1e-15, 1 - 1e-15] as before
    return pd.DataFrame({LABEL: y, "probability": p})


def test_binary_performance_keeps_its_columns_and_values():
    frame = _binary_frame()
    row = measure(frame, FIRST, LAST, "3", 400, flight_delay()).as_row()
    y, p = frame[LABEL].to_numpy(), np.clip(frame["probability"].to_numpy(), 1e-15, 1 - 1e-15)
    assert row == {
        "first": FIRST,
        "last": LAST,
        "model_version": "3",
        "predictions": 400,
        "labelled": 300,
        "positive_rate": y.mean(),
        "mean_probability": p.mean(),
        "roc_auc": roc_auc_score(y, p),
        "log_loss": log_loss(y, p, labels=[0, 1]),
        "brier": brier_score_loss(y, p),
    }
    assert list(row) == ["first", "last", "model_version", "predictions", "labelled", "positive_rate",
                         "mean_probability", "roc_auc", "log_loss", "brier"]  # fmt: skip


def test_regression_performance_reports_rmse_mae_r2():
    y = RNG.normal(10, 30, 200)
    frame = pd.DataFrame({LABEL: y, "prediction": y + RNG.normal(0, 5, 200)})
    perf = measure(frame, FIRST, LAST, "1", 200, regression_usecase())
    expected = compute_metrics("regression", y, frame["prediction"])
    assert {m: perf.metric(m) for m in MONITORED["regression"]} == expected
    assert perf.mean_label == pytest.approx(y.mean()) and perf.mean_prediction == pytest.approx(
        frame["prediction"].mean()
    )


def test_multiclass_performance_reads_the_probability_rows():
    proba = RNG.dirichlet((1, 1, 1), 150)
    y = np.array([CLASSES[i] for i in RNG.integers(0, 3, 150)])
    frame = pd.DataFrame({LABEL: y, "probabilities": list(proba)})
    perf = measure(frame, FIRST, LAST, "1", 150, multiclass_usecase())
    expected = compute_metrics("multiclass", y, proba, CLASSES)
    assert {m: perf.metric(m) for m in MONITORED["multiclass"]} == expected
    assert perf.mean_probability == pytest.approx(proba.max(axis=1).mean())


@pytest.mark.parametrize("make", [flight_delay, regression_usecase, multiclass_usecase])
def test_a_window_without_labels_has_nan_metrics(make):
    usecase = make()
    perf = measure(pd.DataFrame(), FIRST, LAST, "1", 50, usecase)
    assert perf.labelled == 0 and set(MONITORED[usecase.model.task]) <= set(perf.values)
    assert all(v != v for v in perf.values.values())


def test_an_rmse_above_the_limit_breaches_and_below_does_not():
    rule = performance_rule(MonitoringSettings(primary_limit=12.0, violation_k=2, violation_n=3), "regression")
    assert rule.metric == "rmse"
    assert rule.breach([11.0, 12.5, 13.0]) == "RMSE above 12.0 in 2+ of the last 3 windows (11.000, 12.500, 13.000)"
    assert rule.breach([12.5, 13.0, 11.0]) is None  # the latest recovered
    assert rule.breach([11.0, 12.0, 12.0]) is None  # on the limit is no breach


def test_a_macro_f1_below_the_limit_breaches():
    rule = performance_rule(MonitoringSettings(primary_limit=0.4, violation_k=1, violation_n=1), "multiclass")
    assert rule.breach([0.35]) == "macro F1 below 0.4 in 1+ of the last 1 windows (0.350)"
    assert rule.breach([0.45]) is None and rule.breach([float("nan")]) is None


def test_binary_keeps_min_roc_auc_and_its_alert_text():
    rule = performance_rule(MonitoringSettings(min_roc_auc=0.6), "binary")
    assert (rule.metric, rule.limit) == ("roc_auc", 0.6)
    assert rule.breach([0.58, 0.7, 0.55]) == "ROC AUC below 0.6 in 2+ of the last 3 windows (0.580, 0.700, 0.550)"


def test_without_a_limit_a_regression_window_never_breaches():
    rule = performance_rule(MonitoringSettings(), "regression")
    assert rule.limit is None and rule.breach([1e9, 1e9, 1e9]) is None


def test_the_performance_gate_checks_the_tasks_metrics(tmp_path):
    from mlops.quality.gate import run_gate
    from mlops.quality.suites import model_performance_suite

    rows = pd.DataFrame(
        [
            {"granularity": "day", "predictions": 10, "labelled": 8, "rmse": 12.0, "mae": 9.0, "r2": 0.2},
            {"granularity": "window", "predictions": 70, "labelled": 60, "rmse": -1.0, "mae": 9.0, "r2": 1.5},
        ]
    )
    gate = run_gate(rows, model_performance_suite(LAST, MONITORED["regression"]), mode="fail", store_dir=tmp_path,
                    asset_name="monitoring.model_performance")  # fmt: skip
    assert not gate.success
    assert {c for f in gate.failed for c in f.columns} == {"rmse", "r2"}


@pytest.fixture(scope="module")
def monitored(spark, tmp_path_factory):
    """A regression model trained on Jan 1-16 that scored Jan 17-18; Jan 18 monitored with an RMSE limit of 1."""
    from mlops.monitoring.job import run_monitoring
    from tests.unit.task_usecases.flow import scored_model

    days = (date(2013, 1, 17), date(2013, 1, 18))
    with scored_model(
        spark, tmp_path_factory.mktemp("minutes_monitoring"), "delay_minutes", days, date(2013, 1, 16), 16
    ) as env:
        strict = env.settings.monitoring.model_copy(update={"primary_limit": 1.0, "violation_k": 1, "violation_n": 1})
        settings = env.settings.model_copy(update={"monitoring": strict})
        env.result = run_monitoring(env.lake, settings, date(2013, 1, 18), env.trained.version, "monitor_test")
        yield env


@pytest.mark.spark
def test_a_monitored_regression_day_stores_rmse_mae_r2(monitored):
    from mlops.monitoring.job import MODEL_PERFORMANCE

    rows = monitored.lake.read_pandas(MODEL_PERFORMANCE)
    assert {"rmse", "mae", "r2", "mean_label", "mean_prediction"} <= set(rows) and "roc_auc" not in rows
    day = rows[rows["granularity"] == "day"].iloc[0]
    assert day["first"] == date(2013, 1, 17) and day["labelled"] > 100 and day["rmse"] > 1.0


@pytest.mark.spark
def test_a_monitored_regression_day_alerts_on_rmse(monitored):
    from mlops.monitoring.job import DRIFT_SIGNALS, describe

    result = monitored.result
    assert [s.kind for s in result.signals if s.kind == "performance"] == ["performance"]
    assert "RMSE above 1.0 in 1+ of the last 1 windows" in describe(result)
    assert result.summary()["window_rmse"] == pytest.approx(result.window_performance.rmse, abs=1e-4)
    signal = monitored.lake.read_pandas(DRIFT_SIGNALS).set_index("kind").loc["performance"]
    assert signal["threshold"] == 1.0 and signal["value"] > 1.0


@pytest.mark.spark
def test_a_monitored_regression_day_profiles_the_predicted_values(monitored):
    from mlops.monitoring.profile import PREDICTION

    prediction = next(f for f in monitored.result.drift.features if f.feature == PREDICTION)
    assert prediction.psi >= 0  # the reference's predicted minutes against the logged `prediction` column
