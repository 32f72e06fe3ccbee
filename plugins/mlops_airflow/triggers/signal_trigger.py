"""DriftSignalTrigger: waits in the triggerer for an open drift signal in monitoring.drift_signals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class DriftSignalTrigger(BaseTrigger):
    """Fire once when the model has an open signal of one of `kinds`, or when `deadline` passes.

    Args:
        lakehouse_root: the environment's lakehouse root (the triggerer reads the Delta table there).
        model_name: registered model whose signals count.
        kinds: signal kinds that may trigger retraining.
        deadline: ISO-8601 UTC time after which the trigger reports a timeout.
        poke_interval: seconds between reads of the table.
    """

    def __init__(
        self, *, lakehouse_root: str, model_name: str, kinds: list[str], deadline: str, poke_interval: float = 60.0
    ) -> None:
        super().__init__()
        if poke_interval <= 0:
            raise ValueError(f"poke_interval must be > 0, got {poke_interval}")
        self.lakehouse_root, self.model_name, self.kinds = lakehouse_root, model_name, list(kinds)
        self.deadline, self.poke_interval = deadline, poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and arguments, so the triggerer can rebuild this trigger."""
        return (
            "mlops_airflow.triggers.signal_trigger.DriftSignalTrigger",
            {
                "lakehouse_root": self.lakehouse_root,
                "model_name": self.model_name,
                "kinds": self.kinds,
                "deadline": self.deadline,
                "poke_interval": self.poke_interval,
            },
        )

    def _open_ids(self) -> list[str]:
        from mlops.lakehouse import Lakehouse
        from mlops.monitoring.retraining import open_signals

        rows = open_signals(Lakehouse(self.lakehouse_root), self.model_name, tuple(self.kinds))
        return [str(s) for s in rows["signal_id"]] if len(rows) else []

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the Delta table in a thread, so the triggerer's event loop never blocks."""
        deadline = datetime.fromisoformat(self.deadline)
        while True:
            found = await asyncio.to_thread(self._open_ids)
            if found:
                self.log.info("Open drift signals for %s: %s", self.model_name, found)
                yield TriggerEvent({"status": "found", "signal_ids": found})
                return
            if datetime.now(UTC) >= deadline:
                yield TriggerEvent({"status": "timeout", "deadline": self.deadline})
                return
            await asyncio.sleep(self.poke_interval)
