"""One registry writer per model at a time: a cross-process file lock (`fcntl.flock`) keyed by the model name.

Every transition in `transitions` takes it around its re-checks and writes, so two processes on one host
(Airflow tasks, a script, a notebook) cannot interleave them. Airflow tasks on several hosts are serialised
by the model's registry pool (`mlops_airflow.pools`); the lock is for everything else and costs nothing there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ENV_LOCK_DIR = "MLOPS_REGISTRY_LOCK_DIR"
LOCK_TIMEOUT_SECONDS = 300.0
_POLL_SECONDS = 0.02
_held = threading.local()  # models this thread holds, so a transition calling another does not wait on itself


class RegistryBusyError(TimeoutError):
    """Another writer held the model's registry lock past the timeout; transient, so retries apply."""


def lock_path(model_name: str) -> Path:
    """`$MLOPS_REGISTRY_LOCK_DIR/<model>.lock`, default `$MLOPS_HOME/locks/registry/<model>.lock`."""
    from mlops.config import mlops_home

    root = Path(os.environ.get(ENV_LOCK_DIR) or mlops_home() / "locks" / "registry")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model_name)
    if safe != model_name:  # two names that differ only in unsafe characters keep two locks
        safe += "-" + hashlib.sha256(model_name.encode()).hexdigest()[:8]
    return root / f"{safe}.lock"


@contextlib.contextmanager
def registry_lock(model_name: str, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[Path]:
    """Hold the model's registry lock (re-entrant within a thread); the lock file stays for the next writer.

    Raises:
        RegistryBusyError: not acquired within `timeout` seconds.
    """
    held: set[str] = _held.__dict__.setdefault("models", set())
    path = lock_path(model_name)
    if model_name in held:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryBusyError(
                        f"Registry lock {path} for {model_name} still held by another writer after {timeout:.0f} s; "
                        "a retry will wait again (look for a hung model_promotion or model_rollback task)"
                    ) from None
                time.sleep(_POLL_SECONDS)
        held.add(model_name)
        try:
            yield path
        finally:
            held.discard(model_name)
            fcntl.flock(handle, fcntl.LOCK_UN)
