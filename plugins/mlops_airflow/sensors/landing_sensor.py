"""LandingFileSensor: waits for the day's landing file of a dataset to be complete, deferring to the triggerer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from mlops_airflow.common import run_days
from mlops_airflow.hooks import UseCaseSensor
from mlops_airflow.triggers.landing_trigger import LandingFileTrigger


class LandingFileSensor(UseCaseSensor):
    """Wait for `landing/<dataset>/date=<day>/<dataset>.csv` to be complete; fail naming the path after the timeout.

    Complete (`mlops.landing.landing_state`): its done marker `<file>.done` exists, or its size and mtime
    have not changed for `quality.landing_stable_seconds`; a file still growing is waited for. The wait
    happens in the triggerer (deferrable), so no worker slot is held. The timeout and poke interval default
    to the environment's `quality.landing_timeout_minutes` / `landing_poke_seconds`.

    Args:
        dataset: one of the use case's landing datasets.
        day: data date, templated (default `{{ ds }}`).
        days: how many data dates from `day` the run covers (templated; default 1): the sensor waits
            for each date's file in turn, deferring on the first one missing.
        wait_minutes: overrides the configured timeout.
    """

    template_fields: Sequence[str] = ("dataset", "day", "days")
    ui_color = "#e8f4f8"

    def __init__(
        self,
        *,
        dataset: str,
        day: str = "{{ ds }}",
        days: str | int = 1,
        wait_minutes: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if wait_minutes is not None and wait_minutes < 1:
            raise ValueError(f"wait_minutes must be >= 1, got {wait_minutes}")
        self.dataset = dataset
        self.day = day
        self.days = days
        self.wait_minutes = wait_minutes

    def execute(self, context: Context) -> str:
        from mlops.landing import landing_path, landing_state, observe

        settings = self.hook.settings
        stable = settings.quality.landing_stable_seconds
        paths = [landing_path(settings, self.dataset, day) for day in run_days(self.day, self.days)]
        looks = [(p, observe(p)) for p in paths]
        waiting = [(p, o, landing_state([o], o.at, stable)) for p, o in looks]
        waiting = [w for w in waiting if w[2] != "complete"]
        if not waiting:
            self.log.info("Landing file(s) complete: %s", ", ".join(str(p) for p in paths))
            return str(paths[-1])
        path, look, state = waiting[0]
        detail = f"still growing ({look.describe(look.at)})" if state == "growing" else "missing"
        self.log.info("%d of %d landing file(s) not complete; %s is %s", len(waiting), len(paths), path, detail)
        minutes = self.wait_minutes or settings.quality.landing_timeout_minutes
        deadline = datetime.now(UTC) + timedelta(minutes=minutes)
        self.log.info("Waiting up to %s min in the triggerer for %s", minutes, path)
        self.defer(
            trigger=LandingFileTrigger(
                path=str(path),
                deadline=deadline.isoformat(),
                poke_interval=settings.quality.landing_poke_seconds,
                stable_seconds=stable,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resume after the trigger fired: succeed on the complete file, fail clearly on the timeout."""
        if event.get("status") not in ("complete", "found"):  # found: from a trigger of an earlier release
            seen = (
                f"was still growing ({event.get('size')} bytes) at"
                if event.get("state") == "growing"
                else "did not appear by"
            )
            raise AirflowFailException(
                f"No complete {self.dataset} landing file for {self.day}: {event.get('path')} {seen} "
                f"{event.get('deadline')}. Check the upstream delivery, then clear this task to wait again."
            )
        path = event["path"]
        if not Path(path).is_file():
            raise AirflowFailException(f"Landing file {path} was reported but is gone; clear this task to retry.")
        return self.execute(context)  # the next missing date of the run, if any, defers again
