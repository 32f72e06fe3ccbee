"""LandingFileTrigger: waits in the triggerer for a landing file to be complete, up to a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from mlops.landing import LandingObservation, landing_state, observe

_HISTORY = 64  # looks kept per file: enough to see a change, bounded however long the wait


class LandingFileTrigger(BaseTrigger):
    """Fire once when `path` is complete (its done marker exists, or it is unchanged for `stable_seconds`),
    or when `deadline` passes. A file still growing is waited for, with its progress logged.

    Args:
        path: absolute path of the expected landing file.
        deadline: ISO-8601 UTC time after which the trigger reports a timeout.
        poke_interval: seconds between checks.
        stable_seconds: how long size and mtime must stay unchanged without a done marker.
    """

    def __init__(self, *, path: str, deadline: str, poke_interval: float = 30.0, stable_seconds: float = 30.0) -> None:
        super().__init__()
        if poke_interval <= 0:
            raise ValueError(f"poke_interval must be > 0, got {poke_interval}")
        if stable_seconds < 0:
            raise ValueError(f"stable_seconds must be >= 0, got {stable_seconds}")
        self.path = path
        self.deadline = deadline
        self.poke_interval = poke_interval
        self.stable_seconds = stable_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and arguments, so the triggerer can rebuild this trigger."""
        return (
            "mlops_airflow.triggers.landing_trigger.LandingFileTrigger",
            {
                "path": self.path,
                "deadline": self.deadline,
                "poke_interval": self.poke_interval,
                "stable_seconds": self.stable_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the filesystem without blocking the triggerer's event loop."""
        deadline = datetime.fromisoformat(self.deadline)
        seen: list[LandingObservation] = []
        while True:
            seen = [*seen[-_HISTORY + 1 :], await asyncio.to_thread(observe, Path(self.path))]
            now, last = time.time(), seen[-1]
            state = landing_state(seen, now, self.stable_seconds)
            if state == "complete":
                why = "done marker" if last.marker else f"unchanged for {self.stable_seconds:g}s"
                self.log.info("Landing file %s is complete (%s): %s bytes", self.path, why, last.size)
                yield TriggerEvent({"status": "complete", "path": self.path, "size": last.size})
                return
            if state == "growing":
                self.log.info("Landing file %s still growing: %s", self.path, last.describe(now))
            if datetime.now(UTC) >= deadline:
                timeout = {"status": "timeout", "path": self.path, "deadline": self.deadline}
                yield TriggerEvent({**timeout, "state": state, "size": last.size})
                return
            await asyncio.sleep(self.poke_interval)
