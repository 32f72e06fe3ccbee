"""LandingFileSensor defers to LandingFileTrigger and fails naming the path when nothing lands."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from mlops.config import load_settings
from mlops.landing import landing_path
from mlops_airflow.sensors.landing_sensor import LandingFileSensor
from mlops_airflow.triggers.landing_trigger import LandingFileTrigger

DAY = "2013-02-03"


def _sensor(**kwargs):
    return LandingFileSensor(task_id="wait", dataset="flights", day=DAY, **kwargs)


def _land(path, text="year\n"):
    """A landing file delivered a while ago (older than any stable window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    old = time.time() - 3600
    os.utime(path, (old, old))


def _collect(trigger):
    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first_event())


def test_sensor_defers_to_trigger_when_file_is_missing():
    with pytest.raises(TaskDeferred) as deferred:
        _sensor().execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, LandingFileTrigger)
    assert trigger.path == str(landing_path(load_settings(), "flights", date.fromisoformat(DAY)))
    assert deferred.value.method_name == "execute_complete"


def test_sensor_returns_path_without_deferring_when_file_is_present():
    path = landing_path(load_settings(), "flights", date.fromisoformat(DAY))
    _land(path)
    try:
        assert _sensor().execute(context={}) == str(path)
    finally:
        path.unlink()


def test_sensor_timeout_event_fails_naming_the_path():
    event = {"status": "timeout", "path": "/landing/flights/date=2013-02-03/flights.csv", "deadline": "x"}
    with pytest.raises(AirflowFailException, match="flights/date=2013-02-03/flights.csv"):
        _sensor().execute_complete(context={}, event=event)


def test_sensor_over_several_days_defers_on_the_first_missing_date():
    settings = load_settings()
    first = landing_path(settings, "flights", date.fromisoformat(DAY))
    _land(first)
    try:
        with pytest.raises(TaskDeferred) as deferred:
            _sensor(days="3").execute(context={})
    finally:
        first.unlink()
    assert deferred.value.trigger.path == str(landing_path(settings, "flights", date(2013, 2, 4)))


def test_sensor_found_event_defers_again_for_the_next_missing_date():
    settings = load_settings()
    paths = [landing_path(settings, "flights", date(2013, 2, d)) for d in (3, 4)]
    for path in paths:
        _land(path)
    try:
        with pytest.raises(TaskDeferred) as deferred:
            _sensor(days=3).execute_complete(context={}, event={"status": "complete", "path": str(paths[1])})
    finally:
        for path in paths:
            path.unlink()
    assert deferred.value.trigger.path == str(landing_path(settings, "flights", date(2013, 2, 5)))


@pytest.mark.parametrize(("days", "message"), [("0", "between 1 and 31"), ("32", "between 1 and 31"), ("x", "integer")])
def test_sensor_refuses_a_bad_number_of_days(days, message):
    with pytest.raises(AirflowFailException, match=message):
        _sensor(days=days).execute(context={})


def test_sensor_rejects_non_positive_wait():
    with pytest.raises(ValueError, match="wait_minutes"):
        _sensor(wait_minutes=0)


def test_trigger_serialize_round_trips():
    trigger = LandingFileTrigger(path="/a/b.csv", deadline="2030-01-01T00:00:00+00:00", poke_interval=3.0)
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_trigger_fires_complete_when_a_stable_file_is_there(tmp_path):
    path = tmp_path / "flights.csv"
    _land(path, "x\n")
    deadline = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert _collect(LandingFileTrigger(path=str(path), deadline=deadline, poke_interval=0.01)) == {
        "status": "complete",
        "path": str(path),
        "size": 2,
    }


def test_trigger_fires_timeout_after_deadline(tmp_path):
    deadline = (datetime.now(UTC) + timedelta(milliseconds=50)).isoformat()
    payload = _collect(LandingFileTrigger(path=str(tmp_path / "never.csv"), deadline=deadline, poke_interval=0.01))
    assert payload["status"] == "timeout"
    assert payload["path"].endswith("never.csv")
