"""LandingFileTrigger: waits in the triggerer for a landing file, up to a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class LandingFileTrigger(BaseTrigger):
    """Fire once when `path` exists as a non-empty-named file, or when `deadline` passes.

    Args:
        path: absolute path of the expected landing file.
        deadline: ISO-8601 UTC time after which the trigger reports a timeout.
        poke_interval: seconds between checks.
    """

    def __init__(self, *, path: str, deadline: str, poke_interval: float = 30.0) -> None:
        super().__init__()
        if poke_interval <= 0:
            raise ValueError(f"poke_interval must be > 0, got {poke_interval}")
        self.path = path
        self.deadline = deadline
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and arguments, so the triggerer can rebuild this trigger."""
        return (
            "mlops_airflow.triggers.landing_trigger.LandingFileTrigger",
            {"path": self.path, "deadline": self.deadline, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the filesystem without blocking the triggerer's event loop."""
        deadline = datetime.fromisoformat(self.deadline)
        while True:
            if await asyncio.to_thread(Path(self.path).is_file):
                self.log.info("Landing file %s is present", self.path)
                yield TriggerEvent({"status": "found", "path": self.path})
                return
            if datetime.now(UTC) >= deadline:
                yield TriggerEvent({"status": "timeout", "path": self.path, "deadline": self.deadline})
                return
            await asyncio.sleep(self.poke_interval)
