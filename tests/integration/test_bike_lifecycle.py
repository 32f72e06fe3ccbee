"""Every pipeline of bike_demand through Airflow (dag.test) on the staging config, in one chain on real 2011 data.

One fixture runs the chain once, on its own MLOPS_HOME (lakehouse, landing zone, reports, registry lock) and its
own MLflow registry. Seven weeks of history (Mar 2 - Apr 20) are written to bronze and the feature tables by the
use case's own jobs (tests/unit/_bike.py), as earlier daily runs would have left them (the trailing features of
v1's first training days need four weeks of rides before them); then two days are landed
and refreshed in one ranged feature_refresh run, v1 is trained and promoted (the first model: it must beat the
seasonal-naive baseline), two days are scored and monitored, injected drift raises a signal, the guardrails allow
one retrain (v2 trained for drift, then judged by promotion), persisting drift the next day is declined by the
cooldown, the champion is rolled back, and the tables are maintained.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pyarrow as pa
import pytest

from mlops.config import ENV_HOME, load_settings
from mlops.lakehouse import Lakehouse
from mlops.landing import land_range
from tests.unit._bike import landed_frames, write_bronze, write_features
from usecases.bike_demand import usecase

BIKE = usecase()
USECASE = BIKE.name  # the second use case the staging config enables

pytestmark = pytest.mark.integration

HISTORY = date(2011, 3, 2)  # bronze and features from here to Apr 20 are written directly
# Landed and refreshed through Airflow: Apr 21 and 22. Apr 22 is published when drift is seen on it, so the
# labels of Apr 21 (v2's last held-out day) are complete when promotion compares v2 with v1.
FIRST, LANDED_DAYS = date(2011, 4, 21), 2
V1_END = date(2011, 4, 14)  # v1 learns staging's training.train_window_days (21) to here: Apr 12-14 held out
SCORED = date(2011, 4, 15)  # batch_inference scores Apr 15 and 16; monitoring on Apr 16 judges Apr 15
DRIFTED = date(2011, 4, 22)  # labels of Apr 15-21: 168 new hours (retraining.min_new_labelled_rows)
AGAIN = DRIFTED + timedelta(days=1)  # v2 learns to Apr 21: within the cooldown (2 days)
TABLES = {
    "bronze": ("bronze.rides", "bronze.weather", "bronze.calendar"),
    "features": tuple(t.name for t in BIKE.features.tables),
    "monitoring": ("monitoring.feature_drift", "monitoring.model_performance", "monitoring.drift_signals"),
}


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _drifted_copy(lake: Lakehouse, source: date, target: date, version: str) -> None:
    """Append the scored inputs of `source` as day `target` with every numeric input shifted (injected drift)."""
    from mlops.inference.scoring_set import input_columns

    rows = lake.read_pandas("monitoring.inference_log", filters=[("entity_date", "=", source)])
    rows["entity_date"], rows["model_version"] = target, version
    ignored = set(load_settings("staging", usecase=USECASE).monitoring.ignore_features)
    for column in [c for c in input_columns(BIKE) if c not in ignored and rows[c].dtype.kind in "fi"]:
        rows[column] = rows[column] * 3 + 10
    lake.append("monitoring.inference_log", pa.Table.from_pandas(rows, preserve_index=False))


class _Chain:
    """Runs the use case's DAGs with full confs (in-process dag.test runs share each DAG's Param objects)."""

    def __init__(self, dagbag, settings):
        self.dagbag, self.settings, self.seconds = dagbag, settings, {}

    def run(self, pipeline: str, day: date, label: str | None = None, **conf):
        started = time.monotonic()
        run = self.dagbag.dags[f"{USECASE}.{pipeline}"].test(logical_date=_at(day), run_conf=conf or None)
        self.seconds[label or pipeline] = round(time.monotonic() - started, 1)
        return run

    def train(self, day: date, window_end: str, window_days: int, reason: str):
        training = self.settings.training
        conf = {"window_end": window_end, "window_days": window_days, "tuning_trials": 1, "reason": reason}
        conf |= {"tuning_timeout_seconds": training.tuning_timeout_seconds, "model_family": training.model_family}
        return self.run("model_training", day, f"model_training {reason.split(':')[0]}", **conf)

    def score(self, day: date, days: int):
        return self.run("batch_inference", day, date=None, days=days, model_version="champion", engine="config")


@pytest.fixture(scope="module")
def chain(dagbag, spark, tmp_path_factory):
    from mlflow import MlflowClient

    home = tmp_path_factory.mktemp("bike_lifecycle")
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_HOME, str(home))  # its own lakehouse, landing zone, reports and registry lock
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")  # its own registry
        settings = load_settings("staging", usecase=USECASE)
        lake = Lakehouse.from_settings(settings)
        client, name = MlflowClient(tracking_uri=settings.mlflow.tracking_uri), settings.mlflow.model_name
        out = SimpleNamespace(settings=settings, lake=lake, client=client, name=name, home=home)
        write_bronze(lake, landed_frames(HISTORY, FIRST - timedelta(days=1)))
        write_features(spark, lake, settings, HISTORY, FIRST - timedelta(days=1))
        out.landed = land_range(settings, FIRST, LANDED_DAYS)
        dags = out.dags = _Chain(dagbag, settings)
        out.refresh = dags.run("feature_refresh", FIRST, days=LANDED_DAYS)
        window_days = settings.training.train_window_days
        out.train = dags.train(V1_END + timedelta(days=1), str(V1_END), window_days, "integration test")
        out.v1 = _newest(client, name)
        out.promote = dags.run("model_promotion", V1_END + timedelta(days=1), version=out.v1)
        out.aliases_after_v1 = _aliases(client, name)
        out.inference = dags.score(SCORED, days=2)
        out.monitor = dags.run("model_monitoring", SCORED + timedelta(days=1))
        _drifted_copy(lake, SCORED + timedelta(days=1), DRIFTED, out.v1)
        out.monitor_drift = dags.run("model_monitoring", DRIFTED, "model_monitoring drifted")
        out.signals_after_monitor = lake.read_pandas("monitoring.drift_signals")
        out.retrain = dags.run("drift_retraining", DRIFTED)
        out.signals_after_retrain = lake.read_pandas("monitoring.drift_signals")
        # The scheduler would now run the triggered model_training run, and model_promotion on its asset event.
        out.conf = out.retrain.get_task_instance("decide").xcom_pull(task_ids="decide")["conf"]
        out.training_v2 = dags.train(DRIFTED, out.conf["window_end"], out.conf["window_days"], out.conf["reason"])
        out.v2 = _newest(client, name)
        out.promote_v2 = dags.run("model_promotion", DRIFTED, "model_promotion v2", version=out.v2)
        out.aliases_after_v2 = _aliases(client, name)
        _drifted_copy(lake, SCORED, AGAIN, out.aliases_after_v2["champion"])
        out.monitor_again = dags.run("model_monitoring", AGAIN, "model_monitoring again")
        out.declined = dags.run("drift_retraining", AGAIN, "drift_retraining declined")
        out.signals_final = lake.read_pandas("monitoring.drift_signals")
        out.rollback = dags.run("model_rollback", AGAIN, version=None)
        out.aliases_after_rollback = _aliases(client, name)
        out.predictions_before_maintenance = lake.read("gold.predictions").num_rows
        out.maintenance = dags.run("table_maintenance", AGAIN)
        out.maintained = out.maintenance.get_task_instance("maintain_tables").xcom_pull(task_ids="maintain_tables")
    out.seconds = dags.seconds | {"module fixture": round(time.monotonic() - started, 1)}
    print(f"\nbike_demand lifecycle, seconds per run: {out.seconds}")
    return out


def _newest(client, name: str) -> str:
    return str(max(int(v.version) for v in client.search_model_versions(f"name='{name}'")))


def _aliases(client, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def _run_rows(lake: Lakehouse, table: str, run) -> pa.Table:
    return lake.read(table, filters=[("airflow_run_id", "=", run.run_id)])


# ---- feature_refresh ---------------------------------------------------------------------------------------------
def test_feature_refresh_over_the_landed_range_fills_bronze_and_every_feature_table(chain):
    assert str(chain.refresh.state) == "success", _states(chain.refresh)
    assert len(chain.landed) == 3 * LANDED_DAYS  # rides, weather, calendar per day
    lake, landed = chain.lake, [FIRST + timedelta(days=i) for i in range(LANDED_DAYS)]
    for dataset in ("rides", "weather"):
        rows = lake.read_pandas(f"bronze.{dataset}", filters=[("_run_id", "=", chain.refresh.run_id)])
        assert sorted(set(rows["date"])) == landed and len(rows) == 24 * LANDED_DAYS, dataset
    assert lake.read("bronze.calendar").num_rows == 365  # the year's snapshot, merged on its keys
    for table in TABLES["features"]:
        dates = set(lake.read_pandas(table, columns=["feature_date"])["feature_date"])
        assert set(landed) <= dates, f"{table} lacks {set(landed) - dates}"
    hours = lake.read_pandas("features.forecast_hours", filters=[("feature_date", "=", landed[-1])])
    assert sorted(hours["hour"]) == list(range(24))


# ---- model_training and model_promotion -----------------------------------------------------------------------
def test_model_training_registers_a_regression_model_with_its_baseline(chain):
    assert str(chain.train.state) == "success", _states(chain.train)
    mv = chain.client.get_model_version(chain.name, chain.v1)
    assert mv.tags["airflow.dag_id"] == f"{USECASE}.model_training" and mv.tags["airflow.run_id"] == chain.train.run_id
    metrics = chain.client.get_run(mv.run_id).data.metrics
    assert {"test_rmse", "test_mae", "test_r2", "baseline_rmse", "baseline_mae", "rmse_lift"} <= set(metrics)
    assert metrics["test_rmse"] > 0 and metrics["baseline_rmse"] > 0
    assert "test_roc_auc" not in metrics  # task type drives the metrics
    runs = chain.lake.read_pandas("monitoring.training_runs")
    assert runs.loc[runs["airflow_run_id"] == chain.train.run_id, "window_end"].tolist() == [V1_END]


def test_the_first_model_beats_the_seasonal_naive_baseline_and_becomes_champion(chain):
    assert str(chain.promote.state) == "success", _states(chain.promote)
    assert chain.aliases_after_v1 == {"champion": chain.v1}
    mv = chain.client.get_model_version(chain.name, chain.v1)
    assert mv.tags["cd.compliance"] == "passed"
    metrics = chain.client.get_run(mv.run_id).data.metrics
    assert metrics["test_rmse"] < metrics["baseline_rmse"] and metrics["rmse_lift"] > 0
    rows = chain.lake.read_pandas("monitoring.cd_decisions")
    first = rows[rows["airflow_run_id"] == chain.promote.run_id]
    steps = first.groupby("step")["outcome"].apply(list).to_dict()
    assert set(steps["compliance"]) == {"passed"} and steps["promotion"] == ["promoted"]
    assert steps["comparison"][-1] == "passed" and steps["approval"] == ["approved"]
    lift = first[(first["step"] == "comparison") & (first["check"] != "decision")]
    assert lift["check"].tolist() == ["rmse_lift"]  # the regression rule: beat the baseline's RMSE
    assert (
        lift["value"].item() == pytest.approx(metrics["rmse_lift"]) and lift["value"].item() > lift["threshold"].item()
    )


# ---- batch_inference --------------------------------------------------------------------------------------------
def test_batch_inference_forecasts_riders_for_every_local_hour_of_the_scored_days(chain):
    assert str(chain.inference.state) == "success", _states(chain.inference)
    predictions = _run_rows(chain.lake, "gold.predictions", chain.inference).to_pandas()
    assert set(predictions["model_version"]) == {chain.v1}
    for day in (SCORED, SCORED + timedelta(days=1)):
        one = predictions[predictions["entity_date"] == day]
        assert sorted(one["hour"]) == list(range(24)), day
    assert predictions["prediction"].dtype.kind == "f"
    assert predictions["prediction"].notna().all() and (predictions["prediction"] >= 0).all()
    assert predictions["prediction"].max() > 50  # rush hours of spring: a forecast, not a constant
    days = [("entity_date", "in", [SCORED, SCORED + timedelta(days=1)])]
    logged = chain.lake.read_pandas("monitoring.inference_log", filters=days)  # the scored inputs, for monitoring
    assert len(logged) == len(predictions) and logged["riders_week_ago"].notna().all()


# ---- model_monitoring ------------------------------------------------------------------------------------------
def test_model_monitoring_measures_drift_and_regression_performance_on_late_labels(chain):
    assert str(chain.monitor.state) == "success", _states(chain.monitor)
    day = SCORED + timedelta(days=1)
    drift = chain.lake.read_pandas("monitoring.feature_drift", filters=[("monitoring_date", "=", day)])
    assert {"riders_week_ago", "temp_mean_1d"} <= set(drift["feature"])
    performance = chain.lake.read_pandas("monitoring.model_performance", filters=[("monitoring_date", "=", day)])
    assert len(performance) and set(performance["model_version"]) == {chain.v1}
    metrics = set(performance["metric"]) if "metric" in performance else set(performance.columns)
    assert {"rmse", "mae", "r2"} <= metrics and not metrics & {"roc_auc", "log_loss"}


# ---- drift_retraining -------------------------------------------------------------------------------------------
def test_injected_drift_raises_a_data_drift_signal(chain):
    assert str(chain.monitor_drift.state) == "success", _states(chain.monitor_drift)
    signals = chain.signals_after_monitor
    drifted = signals[signals["window_last"] == DRIFTED]
    assert "data_drift" in set(drifted["kind"]) and set(drifted["status"]) == {"open"}


def test_allowed_signal_triggers_training_for_drift_and_is_consumed(chain):
    assert str(chain.retrain.state) == "success", _states(chain.retrain)
    assert _states(chain.retrain)["trigger_training"] == "success"
    assert set(chain.signals_after_retrain["status"]) == {"consumed"}
    assert set(chain.signals_after_retrain["consumed_by_run"]) == {f"drift__{chain.retrain.run_id}"}
    assert chain.conf["reason"].startswith("drift: ")
    assert chain.conf["window_end"] == str(DRIFTED - timedelta(days=1))  # labels complete a day late


def test_the_version_trained_for_drift_goes_through_promotion(chain):
    assert str(chain.training_v2.state) == "success", _states(chain.training_v2)
    mv = chain.client.get_model_version(chain.name, chain.v2)
    assert int(chain.v2) > int(chain.v1) and mv.tags["mlops.reason"].startswith("drift: ")
    assert str(chain.promote_v2.state) in ("success", "failed")  # the CD rule decides; either way it is recorded
    decisions = chain.lake.read_pandas("monitoring.cd_decisions")
    v2 = decisions[decisions["version"] == chain.v2]
    assert set(v2["step"]) >= {"compliance", "comparison"}
    compared = v2[(v2["step"] == "comparison") & (v2["check"] == "decision")]
    assert compared["champion_version"].tolist() == [chain.v1]  # challenger vs the champion it would replace
    promoted = str(chain.promote_v2.state) == "success"
    expected = {"champion": chain.v2, "previous_champion": chain.v1} if promoted else {"champion": chain.v1}
    assert {k: v for k, v in chain.aliases_after_v2.items() if k != "challenger"} == expected


def test_cooldown_declines_the_next_signal_with_the_reason(chain):
    assert str(chain.monitor_again.state) == "success", _states(chain.monitor_again)
    assert str(chain.declined.state) == "success", _states(chain.declined)
    states = _states(chain.declined)
    assert states["decide"] == "skipped" and states["trigger_training"] == "skipped"
    declined = chain.signals_final[chain.signals_final["status"] == "declined"]
    assert len(declined) >= 1 and declined["decision"].str.contains("cooldown").all()


# ---- model_rollback ----------------------------------------------------------------------------------------------
def test_model_rollback_moves_the_champion_back_or_refuses_without_a_previous_one(chain):
    before = chain.aliases_after_v2
    if "previous_champion" in before:  # v2 was promoted: the champion goes back to v1, v2 keeps previous_champion
        assert str(chain.rollback.state) == "success", _states(chain.rollback)
        assert chain.aliases_after_rollback["champion"] == before["previous_champion"]
        assert chain.aliases_after_rollback["previous_champion"] == before["champion"]
        rows = _run_rows(chain.lake, "monitoring.cd_decisions", chain.rollback).to_pandas()
        assert len(rows) >= 1
    else:  # nothing to roll back to: the run fails and moves nothing
        assert str(chain.rollback.state) == "failed"
        assert chain.aliases_after_rollback == before


# ---- table_maintenance ------------------------------------------------------------------------------------------
def test_table_maintenance_keeps_every_table_readable(chain):
    assert str(chain.maintenance.state) == "success", _states(chain.maintenance)
    lake, summary = chain.lake, chain.maintained
    expected = {t for group in TABLES.values() for t in group} | {"gold.predictions", "monitoring.cd_decisions"}
    assert summary["tables"] >= len(expected)
    for table in expected:
        assert lake.read(table).num_rows > 0, table
    assert lake.read("gold.predictions").num_rows == chain.predictions_before_maintenance
