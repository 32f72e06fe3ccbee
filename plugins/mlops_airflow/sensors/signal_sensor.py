"""DriftSignalSensor: waits, in the triggerer, for an open drift signal of the environment's model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowSkipException

from mlops_airflow.hooks import UseCaseSensor
from mlops_airflow.triggers.signal_trigger import DriftSignalTrigger


class DriftSignalSensor(UseCaseSensor):
    """Return the ids of the open drift signals, waiting for one in the triggerer (no worker slot held).

    Looks once in the task; if nothing is open, defers to `DriftSignalTrigger`, which polls
    monitoring.drift_signals every `retraining.poke_seconds` for up to `retraining.wait_hours`. No signal
    by then: the task (and the run) is skipped, and the next run waits again.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#fce8d5"

    def __init__(self, *, wait_hours: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait_hours = wait_hours

    def execute(self, context: Context) -> list[str]:
        from mlops.monitoring.retraining import open_signals

        settings = self.hook.settings
        cfg, name = settings.retraining, settings.mlflow.model_name
        rows = open_signals(self.hook.lakehouse, name, tuple(cfg.signal_kinds))
        if len(rows):
            self.log.info("Open drift signals for %s: %s", name, list(rows["signal_id"]))
            return [str(s) for s in rows["signal_id"]]
        hours = self.wait_hours or cfg.wait_hours
        deadline = datetime.now(UTC) + timedelta(hours=hours)
        self.log.info("No open drift signal for %s: waiting up to %s h in the triggerer", name, hours)
        self.defer(
            trigger=DriftSignalTrigger(
                lakehouse_root=settings.lakehouse.root,
                model_name=name,
                kinds=list(cfg.signal_kinds),
                deadline=deadline.isoformat(),
                poke_interval=cfg.poke_seconds,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[str]:
        """Resume with the signal ids, or skip when the wait ended without one."""
        if event.get("status") != "found":
            raise AirflowSkipException(f"No drift signal by {event.get('deadline')}: nothing to retrain")
        return list(event["signal_ids"])
