"""LandingFileTrigger waits while a landing file grows and fires only once it is complete."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops.landing import done_marker
from mlops_airflow.sensors.landing_sensor import LandingFileSensor
from mlops_airflow.triggers.landing_trigger import LandingFileTrigger

STABLE = 1.0
ROWS = 350


def _trigger(path, *, minutes: float = 1, stable: float = STABLE) -> LandingFileTrigger:
    deadline = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    return LandingFileTrigger(path=str(path), deadline=deadline, poke_interval=0.05, stable_seconds=stable)


def _first_event(trigger) -> tuple[dict, float]:
    async def first():
        async for event in trigger.run():
            return event.payload, time.time()

    return asyncio.run(first())


def _slow_writer(path, payload: bytes, chunks: int = 14, pause: float = 0.15) -> tuple[threading.Thread, list[float]]:
    """Append `payload` in `chunks` pieces cut at arbitrary bytes (mid-line too); records when it stopped."""
    stopped: list[float] = []
    cuts = [len(payload) * i // chunks for i in range(chunks + 1)]

    def write():
        for start, end in zip(cuts, cuts[1:], strict=False):
            with open(path, "ab") as handle:
                handle.write(payload[start:end])
            time.sleep(pause)
        stopped.append(time.time() - pause)

    return threading.Thread(target=write), stopped


def test_trigger_fires_only_after_the_slow_writer_stops_and_the_window_passes(tmp_path, capfd):
    path = tmp_path / "flights.csv"
    payload = b"id,value\n" + b"".join(f"{i},{i * 7}\n".encode() for i in range(ROWS))
    writer, stopped = _slow_writer(path, payload)
    writer.start()
    try:
        event, fired = _first_event(_trigger(path))
    finally:
        writer.join()
    assert event == {"status": "complete", "path": str(path), "size": len(payload)}
    assert fired >= stopped[0] + STABLE - 0.05  # mtime granularity
    assert path.read_bytes().count(b"\n") - 1 == ROWS
    logged = "".join(capfd.readouterr())
    assert f"{path} still growing: " in logged and "bytes, last change" in logged


def test_trigger_with_done_marker_fires_at_once(tmp_path):
    path = tmp_path / "flights.csv"
    path.write_text("id\n1\n")
    done_marker(path).touch()
    started = time.time()
    event, fired = _first_event(_trigger(path, stable=60))
    assert event["status"] == "complete" and fired - started < 1


def test_trigger_ignores_temporary_names(tmp_path):
    for name in (".flights.csv.x.tmp", "flights.csv.part", "flights.csv.inprogress", "_flights.csv"):
        (tmp_path / name).write_text("id\n1\n")
    event, _ = _first_event(_trigger(tmp_path / "flights.csv", minutes=0.01))
    assert (event["status"], event["state"]) == ("timeout", "absent")


def test_trigger_times_out_on_a_file_still_growing_and_the_sensor_says_so(tmp_path):
    path = tmp_path / "flights.csv"
    writer, _ = _slow_writer(path, b"id\n" + b"1\n" * 200, chunks=20, pause=0.05)
    writer.start()
    try:
        event, _ = _first_event(_trigger(path, minutes=0.01, stable=60))
    finally:
        writer.join()
    assert (event["status"], event["state"]) == ("timeout", "growing") and event["size"] > 0
    with pytest.raises(AirflowFailException, match="was still growing"):
        LandingFileSensor(task_id="wait", dataset="flights", day="2013-02-03").execute_complete({}, event)


def test_trigger_serialize_round_trips_the_stable_window():
    trigger = LandingFileTrigger(path="/a/b.csv", deadline="2030-01-01T00:00:00+00:00", stable_seconds=7.5)
    classpath, kwargs = trigger.serialize()
    assert kwargs["stable_seconds"] == 7.5
    module, name = classpath.rsplit(".", 1)
    assert getattr(__import__(module, fromlist=[name]), name)(**kwargs).serialize() == (classpath, kwargs)


def test_trigger_rejects_a_negative_window():
    with pytest.raises(ValueError, match="stable_seconds"):
        LandingFileTrigger(path="/a/b.csv", deadline="2030-01-01T00:00:00+00:00", stable_seconds=-1)


def test_sensor_defers_on_a_file_still_growing():
    from airflow.sdk.exceptions import TaskDeferred

    from mlops.config import load_settings
    from mlops.landing import landing_path

    sensor = LandingFileSensor(task_id="wait", dataset="flights", day="2013-02-07")
    path = landing_path(load_settings(), "flights", datetime(2013, 2, 7).date())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("year\n")  # just written: inside the staging window
    try:
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context={})
    finally:
        path.unlink()
    assert deferred.value.trigger.path == str(path)
    assert deferred.value.trigger.stable_seconds == load_settings().quality.landing_stable_seconds
