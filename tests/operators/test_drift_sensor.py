"""DriftSignalSensor defers to DriftSignalTrigger, which fires on an open signal; the notifier's webhook delivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from mlops.lakehouse import Lakehouse
from mlops.monitoring.job import DRIFT_SIGNALS, _signal_schema
from mlops_airflow.sensors.signal_sensor import DriftSignalSensor
from mlops_airflow.triggers.signal_trigger import DriftSignalTrigger


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_LAKEHOUSE_ROOT, str(tmp_path / "lakehouse"))
    return Lakehouse(load_settings().lakehouse.root)


def _signal(lake, status="open", kind="data_drift"):
    row = {
        "signal_id": f"{kind}/x/{status}", "kind": kind, "detail": "d", "value": 0.5, "threshold": 0.3,
        "window_first": date(2013, 2, 1), "window_last": date(2013, 2, 1), "monitoring_date": date(2013, 2, 1),
        "model_name": load_settings().mlflow.model_name, "model_version": "1", "airflow_run_id": "r",
        "detected_at": datetime.now(UTC), "status": status, "consumed_by_run": None, "consumed_at": None,
        "decision": None,
    }  # fmt: skip
    lake.append(DRIFT_SIGNALS, pa.Table.from_pylist([row], schema=_signal_schema()))


def _collect(trigger):
    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first_event())


def test_sensor_defers_to_the_trigger_when_no_signal_is_open(lake):
    _signal(lake, status="declined")
    with pytest.raises(TaskDeferred) as deferred:
        DriftSignalSensor(task_id="wait").execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DriftSignalTrigger) and trigger.lakehouse_root == lake.root
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "mlops_airflow.triggers.signal_trigger.DriftSignalTrigger"
    assert DriftSignalTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_sensor_returns_open_signals_without_deferring(lake):
    _signal(lake)
    assert DriftSignalSensor(task_id="wait").execute(context={}) == ["data_drift/x/open"]


def test_trigger_fires_on_an_open_signal_and_times_out_without_one(lake):
    name = load_settings().mlflow.model_name
    soon = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
    quiet = DriftSignalTrigger(
        lakehouse_root=lake.root, model_name=name, kinds=["data_drift"], deadline=soon, poke_interval=0.1
    )
    assert _collect(quiet) == {"status": "timeout", "deadline": soon}
    _signal(lake, kind="performance")
    later = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    only_drift = DriftSignalTrigger(
        lakehouse_root=lake.root, model_name=name, kinds=["data_drift"], deadline=soon, poke_interval=0.1
    )
    assert _collect(only_drift)["status"] == "timeout"  # a performance signal is not a kind it waits for
    trigger = DriftSignalTrigger(
        lakehouse_root=lake.root, model_name=name, kinds=["performance"], deadline=later, poke_interval=0.1
    )
    assert _collect(trigger) == {"status": "found", "signal_ids": ["performance/x/open"]}


def test_sensor_skips_when_the_wait_ends_without_a_signal():
    with pytest.raises(AirflowSkipException, match="No drift signal by"):
        DriftSignalSensor(task_id="wait").execute_complete(context={}, event={"status": "timeout", "deadline": "t"})
