"""Drift to retraining through Airflow (dag.test): monitoring raises a signal and alerts, the guardrails allow
one retrain (model_training then model_promotion take the new version), then the cooldown declines the next."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from tests.unit._training import training_lakehouse
from usecases.flight_delay import usecase

FLIGHTS = usecase()
USECASE = FLIGHTS.name  # the use case the staging config enables

pytestmark = pytest.mark.integration
DRIFTED = date(2013, 1, 16)  # v1 learns Jan 1-12 and scores Jan 13-14; Jan 17-18 stay for the CD comparison
AGAIN = date(2013, 1, 17)


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Webhook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _drifted_copy(lake, source: date, target: date, version: str) -> None:
    """Append the scored inputs of `source` as day `target` with most inputs shifted (injected drift)."""
    from mlops.inference.scoring_set import input_columns

    rows = lake.read_pandas("monitoring.inference_log", filters=[("entity_date", "=", source)])
    rows["entity_date"], rows["model_version"] = target, version
    for column in [c for c in input_columns(FLIGHTS) if rows[c].dtype.kind == "f"][:15]:
        rows[column] = rows[column] * 3 + 10
    rows["dest"] = "XXX"
    lake.append("monitoring.inference_log", pa.Table.from_pandas(rows, preserve_index=False))


@pytest.fixture(scope="module")
def flow(dagbag, spark, tmp_path_factory):
    from mlflow import MlflowClient

    from mlops.inference import ScoreRequest, ScoringModel, build_scoring_set, prediction_output, publish, score
    from mlops.training import RunIdentity, TrainingRequest, train_model

    home = tmp_path_factory.mktemp("drift_retraining")
    lake = training_lakehouse(home / "lakehouse" / USECASE)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = {"conn_type": "http", "host": f"http://127.0.0.1:{server.server_port}/alerts"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, str(Path(lake.root).parent))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        patch.setenv("AIRFLOW_CONN_MLOPS_ALERTS_WEBHOOK", json.dumps(hook))
        settings = load_settings("staging")
        name, client = settings.mlflow.model_name, MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
        request = TrainingRequest(date(2013, 1, 12), 12, tuning_trials=1, who=RunIdentity(reason="initial"))
        v1 = train_model(spark, lake, settings, request)
        client.set_registered_model_alias(name, "champion", v1.version)
        model = ScoringModel(name, v1.version, v1.run_id, "version")
        for day in (date(2013, 1, 13), date(2013, 1, 14)):
            build_scoring_set(spark, lake, settings, day)
            score(lake, ScoreRequest(model, day, 0.3, "test", prediction_output(FLIGHTS)), "arrow")
            publish(lake, FLIGHTS, day, v1.version)
        _drifted_copy(lake, date(2013, 1, 14), DRIFTED, v1.version)
        out = SimpleNamespace(lake=lake, settings=settings, client=client, v1=v1.version, name=name)
        out.monitor = dagbag.dags[f"{USECASE}.model_monitoring"].test(logical_date=_at(DRIFTED))
        out.signals_after_monitor = lake.read_pandas("monitoring.drift_signals")
        out.retrain = dagbag.dags[f"{USECASE}.drift_retraining"].test(logical_date=_at(DRIFTED))
        out.signals_after_retrain = lake.read_pandas("monitoring.drift_signals")
        # The scheduler would now run the triggered model_training run, and model_promotion on its asset event.
        decided = out.retrain.get_task_instance("decide").xcom_pull(task_ids="decide")
        out.conf = decided["conf"]
        out.training = dagbag.dags[f"{USECASE}.model_training"].test(logical_date=_at(AGAIN), run_conf=out.conf)
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
        out.v2 = str(versions[-1])
        out.promotion = dagbag.dags[f"{USECASE}.model_promotion"].test(
            logical_date=_at(AGAIN), run_conf={"version": out.v2}
        )
        # Drift persists the next day: a new signal, but the cooldown since v2's data (to Jan 15) declines it.
        champion = str(client.get_registered_model(name).aliases["champion"])
        _drifted_copy(lake, date(2013, 1, 13), AGAIN, champion)
        out.monitor_again = dagbag.dags[f"{USECASE}.model_monitoring"].test(logical_date=_at(AGAIN))
        out.declined = dagbag.dags[f"{USECASE}.drift_retraining"].test(logical_date=_at(AGAIN))
        out.signals_final = lake.read_pandas("monitoring.drift_signals")
    server.shutdown()
    return out


def test_monitoring_run_records_drift_and_alerts_the_webhook(flow):
    assert str(flow.monitor.state) == "success", _states(flow.monitor)
    kinds = set(flow.signals_after_monitor["kind"])
    assert "data_drift" in kinds and set(flow.signals_after_monitor["status"]) == {"open"}
    assert any("data_drift" in m["text"] and "dest" in m["text"] for m in _Webhook.received)
    drift = flow.lake.read_pandas("monitoring.feature_drift", filters=[("monitoring_date", "=", DRIFTED)])
    assert drift.loc[drift["feature"] == "dest", "drifted"].item()
    reports = list(Path(flow.lake.root, "_reports", "drift").glob(f"drift_{DRIFTED}_v{flow.v1}.html"))
    assert reports and "<img" in reports[0].read_text()
    artifacts = flow.client.list_artifacts(
        flow.client.get_model_version(flow.name, flow.v1).run_id, f"monitoring/{DRIFTED}"
    )
    assert [a.path.split("/")[-1] for a in artifacts] == [reports[0].name]


def test_allowed_signal_triggers_training_and_is_consumed(flow):
    assert str(flow.retrain.state) == "success", _states(flow.retrain)
    assert _states(flow.retrain)["trigger_training"] == "success"
    consumed = flow.signals_after_retrain
    assert set(consumed["status"]) == {"consumed"}
    assert set(consumed["consumed_by_run"]) == {f"drift__{flow.retrain.run_id}"}
    assert flow.conf["reason"].startswith("drift: ") and flow.conf["window_end"] == str(
        DRIFTED - timedelta(days=1)
    )  # labels complete a day late


def test_the_new_version_is_trained_for_drift_and_goes_through_promotion(flow):
    assert str(flow.training.state) == "success", _states(flow.training)
    mv = flow.client.get_model_version(flow.name, flow.v2)
    assert int(flow.v2) > int(flow.v1) and mv.tags["mlops.reason"].startswith("drift: ")
    assert str(flow.promotion.state) in ("success", "failed")  # the CD rule decides; either way it is recorded
    decisions = flow.lake.read_pandas("monitoring.cd_decisions")
    v2 = decisions[decisions["version"] == flow.v2]
    assert set(v2["step"]) >= {"compliance", "comparison"}
    compared = v2[(v2["step"] == "comparison") & (v2["check"] == "decision")]
    assert compared["champion_version"].tolist() == [flow.v1]  # challenger vs the champion it would replace


def test_cooldown_declines_the_next_signal_with_the_reason(flow):
    assert str(flow.monitor_again.state) == "success", _states(flow.monitor_again)
    assert str(flow.declined.state) == "success", _states(flow.declined)
    states = _states(flow.declined)
    assert states["decide"] == "skipped" and states["trigger_training"] == "skipped"
    declined = flow.signals_final[flow.signals_final["status"] == "declined"]
    assert len(declined) >= 1 and declined["decision"].str.contains("cooldown").all()
