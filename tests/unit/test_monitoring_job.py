"""One day of monitoring on real tables: drift vs the champion's reference, late-label performance, signals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from mlops.monitoring.job import DRIFT_SIGNALS, FEATURE_DRIFT, MODEL_PERFORMANCE, describe, run_monitoring
from mlops.monitoring.performance import violation
from tests.unit._training import LAST, WINDOW_DAYS, shared_training_set, training_lakehouse
from usecases.flight_delay import usecase

USECASE = usecase()

pytestmark = pytest.mark.spark
STABLE, DRIFTED = date(2013, 2, 1), date(2013, 2, 2)  # synthetic scored days appended to the inference log


@pytest.fixture(scope="module")
def env(spark, tmp_path_factory):
    """Model trained on the whole window (its training set is the reference); Jan 17-18 scored and published."""
    from mlops.inference import ScoreRequest, ScoringModel, build_scoring_set, prediction_output, publish, score
    from mlops.training import RunIdentity, TrainingRequest, train_model

    home = tmp_path_factory.mktemp("monitoring")
    lake = training_lakehouse(home / "lakehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, lake.root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        settings = load_settings("staging")
        request = TrainingRequest(LAST, WINDOW_DAYS, tuning_trials=1, who=RunIdentity(reason="monitoring test"))
        trained = train_model(spark, lake, settings, request)
        model = ScoringModel(trained.model_name, trained.version, trained.run_id, "version")
        for day in (date(2013, 1, 17), date(2013, 1, 18)):
            build_scoring_set(spark, lake, settings, day)
            score(lake, ScoreRequest(model, day, 0.3, "test", prediction_output(USECASE)), "arrow")
            publish(lake, USECASE, day, trained.version)
        _append_synthetic_days(lake, shared_training_set(spark).frame, trained)
        yield SimpleNamespace(lake=lake, settings=settings, version=trained.version)


def _append_synthetic_days(lake, frame, trained) -> None:
    """Two scored days from the training rows themselves: one as is (stable), one with inputs shifted (drifted)."""
    from mlops.inference.scoring_set import input_columns

    schema = lake.schema("monitoring.inference_log")
    sample = frame.sample(1500, random_state=0).reset_index(drop=True)
    rng = np.random.default_rng(0)
    for day, shift in ((STABLE, False), (DRIFTED, True)):
        rows = sample.copy()
        rows["entity_date"], rows["model_name"], rows["model_version"] = day, trained.model_name, trained.version
        rows["scored_at"] = datetime.now(UTC)
        rows["probability"] = rng.uniform(0.1, 0.4, len(rows))
        if shift:
            for column in [c for c in input_columns(USECASE) if rows[c].dtype.kind == "f"][:12]:
                rows[column] = rows[column] * 3 + 5
            rows["dest"] = "XXX"
            rows["probability"] = rng.uniform(0.6, 0.9, len(rows))
        lake.append("monitoring.inference_log", pa.Table.from_pandas(rows[schema.names], preserve_index=False))


def test_a_real_day_writes_drift_and_performance_rows_once(env):
    result = run_monitoring(env.lake, env.settings, date(2013, 1, 18), env.version, "run_real")
    drift = env.lake.read_pandas(FEATURE_DRIFT, filters=[("monitoring_date", "=", date(2013, 1, 18))])
    assert len(drift) == len(result.drift.features) > 30 and "prediction" in set(drift["feature"])
    assert drift["psi"].ge(0).all() and drift["p_value"].between(0, 1).all()
    assert set(drift["test_name"]) == {"ks", "chi_square"}
    perf = env.lake.read_pandas(MODEL_PERFORMANCE)
    day = perf[(perf["granularity"] == "day") & (perf["airflow_run_id"] == "run_real")].iloc[0]
    assert day["first"] == date(2013, 1, 17) and 0.5 < day["roc_auc"] <= 1.0  # in-sample day: labels known late
    assert day["labelled"] >= 0.9 * day["predictions"] > 100
    versions = {t: env.lake.version(t) for t in (FEATURE_DRIFT, MODEL_PERFORMANCE)}
    run_monitoring(env.lake, env.settings, date(2013, 1, 18), env.version, "run_real")
    assert {t: env.lake.version(t) for t in versions} == versions  # rerun: nothing written twice


def test_stable_data_raises_no_signal(env):
    result = run_monitoring(env.lake, env.settings, STABLE, env.version, "run_stable")
    assert result.current_rows == 1500
    assert not result.drift.drifted and result.drift.drifted_share < 0.1
    assert "data_drift" not in [s.kind for s in result.signals]


def test_injected_drift_raises_one_signal_naming_the_features(env):
    result = run_monitoring(env.lake, env.settings, DRIFTED, env.version, "run_drift")
    kinds = [s.kind for s in result.signals]
    assert "data_drift" in kinds and "prediction_drift" in kinds
    assert "dest" in result.drift.drifted_features and result.drift.drifted_share >= 0.3
    signals = env.lake.read_pandas(DRIFT_SIGNALS)
    row = signals[signals["kind"] == "data_drift"].iloc[0]
    assert row["status"] == "open" and row["model_version"] == env.version and "dest" in row["detail"]
    assert (row["window_first"], row["window_last"]) == (date(2013, 1, 27), DRIFTED)  # the trailing week
    assert "data_drift" in describe(result)
    run_monitoring(env.lake, env.settings, DRIFTED, env.version, "run_drift_again")
    assert len(env.lake.read_pandas(DRIFT_SIGNALS)) == len(signals)  # the same breach is one signal


def test_a_rerun_of_a_day_does_not_reopen_a_consumed_signal(env):
    from mlops.monitoring.retraining import close_signals

    run_monitoring(env.lake, env.settings, DRIFTED, env.version, "run_drift")
    before = env.lake.read_pandas(DRIFT_SIGNALS)
    ids = tuple(before.loc[before["monitoring_date"] == DRIFTED, "signal_id"])
    assert ids and close_signals(env.lake, ids, "consumed", "retrained", "training_run_1") == len(ids)
    run_monitoring(env.lake, env.settings, DRIFTED, env.version, "rerun_of_the_day")
    after = env.lake.read_pandas(DRIFT_SIGNALS)
    assert len(after) == len(before)
    assert set(after.loc[after["signal_id"].isin(ids), "status"]) == {"consumed"}


def test_a_version_without_reference_profile_is_refused(env):
    with pytest.raises(LookupError, match="v99 has no reference profile"):
        run_monitoring(env.lake, env.settings, STABLE, "99", "run_missing")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.7, 0.7, 0.5], False),  # one bad window is noise
        ([0.7, 0.5, 0.5], True),  # two of the last three, the latest included
        ([0.5, 0.5, 0.7], False),  # recovered: the latest is fine
        ([0.5, float("nan"), 0.5], True),
        ([float("nan"), float("nan")], False),  # no labels is never a breach
    ],
)
def test_violation_rule_k_of_n_with_the_latest(values, expected):
    assert violation(values, 0.6, k=2, n=3) is expected


def test_gate_refuses_an_impossible_statistic(env):
    from dataclasses import replace

    from mlops.monitoring.drift import DatasetDrift
    from mlops.monitoring.job import _validate
    from mlops.quality.pipeline_gates import GateFailedError

    good = run_monitoring(env.lake, env.settings, STABLE, env.version, "run_gate")
    broken = replace(good.drift.features[0], psi=-1.0, p_value=1.5)
    bad = replace(good, drift=DatasetDrift((broken, *good.drift.features[1:]), 0.0, 0.3))
    with pytest.raises(GateFailedError, match="expect_column_values_to_be_between on column psi"):
        _validate(env.settings, bad)
