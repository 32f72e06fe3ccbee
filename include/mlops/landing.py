"""The landing zone: where a use case's daily delivery of each dataset lands, how files are written there,
and when a landed file counts as complete.

The landing protocol: a file is taken only when complete, that is when its done marker `<file>.done` exists,
or when neither its size nor its mtime has changed for `quality.landing_stable_seconds`. A write-then-rename
producer (like our replayer) passes the stable check once the renamed file has aged past the window; a
producer appending to the final name is waited for. Hidden and temporary names (a leading `.` or `_`, a
`.tmp`, `.part` or `.inprogress` suffix) are never the expected file, so they are never taken.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mlops.config import Settings

LandingState = Literal["absent", "growing", "complete"]
DONE_SUFFIX = ".done"
TEMPORARY_PREFIXES = (".", "_")
TEMPORARY_SUFFIXES = (".tmp", ".part", ".inprogress")


class LandingFileIncomplete(RuntimeError):
    """A landing file is still being written (or changed while it was read): wait and retry, never quarantine.

    Not a `Refusal`: the data is not bad, only not there yet, so Airflow's retries apply.
    """

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"Landing file {path} is not complete yet: {detail}. Nothing was read; the task retries later "
            f"(a producer can write {path.name}{DONE_SUFFIX} when done, or write to a temporary name and rename)."
        )
        self.path = path


@dataclass(frozen=True)
class LandingObservation:
    """What one look at a landing file saw: its size and mtime (None: no file) and whether its done marker exists.

    Attributes:
        at: wall-clock seconds (`time.time()`) when the file was looked at.
    """

    at: float
    size: int | None = None
    mtime: float | None = None
    marker: bool = False

    @property
    def present(self) -> bool:
        """A regular file is at the expected path."""
        return self.size is not None

    def describe(self, now: float) -> str:
        """`N bytes, last change Ys ago`, for logs and messages."""
        return f"{self.size} bytes, last change {max(now - (self.mtime or now), 0.0):.1f}s ago"


def is_temporary_name(name: str) -> bool:
    """A hidden or in-progress name (`.x`, `_x`, `x.tmp`, `x.part`, `x.inprogress`): never a landing file."""
    return name.startswith(TEMPORARY_PREFIXES) or name.endswith(TEMPORARY_SUFFIXES)


def done_marker(path: Path) -> Path:
    """`<file>.done` beside the landing file: written by a producer after the file is complete."""
    return Path(path).with_name(Path(path).name + DONE_SUFFIX)


def observe(path: Path, now: float | None = None) -> LandingObservation:
    """Stat the landing file and its done marker (a temporary name counts as absent).

    Something else at the landing path (a directory, a dangling symbolic link) counts as a present file of 0
    bytes, so once it is stable the pipeline goes on to validation, which refuses it naming the path; a path
    that cannot be looked at (no permission) counts as absent. Never raises for what is at the path.
    """
    path = Path(path)
    at = time.time() if now is None else now
    try:
        marker = done_marker(path).is_file()
    except OSError:
        marker = False
    if is_temporary_name(path.name):
        return LandingObservation(at, marker=marker)
    try:
        st = path.lstat() if path.is_symlink() and not path.exists() else path.stat()
    except OSError:
        return LandingObservation(at, marker=marker)
    if not stat.S_ISREG(st.st_mode):
        return LandingObservation(at, 0, st.st_mtime, marker)
    return LandingObservation(at, st.st_size, st.st_mtime, marker)


def last_change(observations: Sequence[LandingObservation]) -> float:
    """The latest moment the file may have changed: its mtime, or the first look that saw its current size and
    mtime after a look that saw the file with others, whichever is later (so a filesystem whose mtime lags
    the writes still waits). A file appearing whole (renamed in) is judged by its mtime alone."""
    last = observations[-1]
    changed = last.mtime if last.mtime is not None else last.at
    for before, after in zip(observations[-2::-1], observations[:0:-1], strict=True):
        if not before.present:
            break
        if (before.size, before.mtime) != (last.size, last.mtime):
            return max(changed, after.at)
    return changed


def landing_state(observations: Sequence[LandingObservation], now: float, stable_seconds: float) -> LandingState:
    """Absent, growing or complete, from the looks so far (oldest first) at the expected landing file.

    Complete when the latest look found the file and its done marker, or found a file unchanged (size and
    mtime) for at least `stable_seconds` before `now`; growing when it is there but changed more recently.

    Raises:
        ValueError: no observations, or a negative `stable_seconds`.
    """
    if not observations:
        raise ValueError("landing_state needs at least one observation")
    if stable_seconds < 0:
        raise ValueError(f"stable_seconds must be >= 0, got {stable_seconds}")
    last = observations[-1]
    if not last.present:
        return "absent"
    if last.marker or stable_seconds == 0 or now - last_change(observations) >= stable_seconds:
        return "complete"
    return "growing"


@dataclass(frozen=True)
class LandedFile:
    """One file written to the landing zone by a source."""

    dataset: str
    day: date
    path: Path
    rows: int


def landing_path(settings: Settings, dataset: str, day: date) -> Path:
    """`<landing_root>/<dataset>/date=YYYY-MM-DD/<dataset>.csv`, the file a day's delivery lands in.

    Raises:
        ValueError: the use case declares no dataset called `dataset`.
    """
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    if dataset not in usecase.dataset_names:
        raise ValueError(
            f"Unknown dataset {dataset!r} of use case {usecase.name!r}; expected one of {sorted(usecase.dataset_names)}"
        )
    return Path(settings.lakehouse.landing_root) / dataset / f"date={day.isoformat()}" / f"{dataset}.csv"


def write_atomic(target: Path, payload: bytes) -> None:
    """Write to a temporary file in the same directory, then rename: readers never see a partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def land_range(settings: Settings, start: date, days: int) -> list[Path]:
    """Land `days` consecutive days from `start` with the use case's source, every dataset of each day.

    Raises:
        ValueError: `days` < 1.
    """
    from datetime import timedelta

    from mlops.usecase import usecase_of

    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    land_day = usecase_of(settings).land_day
    return [f for offset in range(days) for f in land_day(settings, start + timedelta(days=offset))]


def require_complete(path: Path, stable_seconds: float) -> LandingObservation:
    """Look at the landing file once more just before it is read; return what was seen when it is complete.

    Raises:
        FileNotFoundError: no file at `path`.
        LandingFileIncomplete: the file changed within the last `stable_seconds` and has no done marker.
    """
    seen = observe(path)
    state = landing_state([seen], seen.at, stable_seconds)
    if state == "absent":
        raise FileNotFoundError(f"No landing file at {path}")
    if state == "growing":
        raise LandingFileIncomplete(
            Path(path), f"{seen.describe(seen.at)}, inside the {stable_seconds:g}s stable window and no done marker"
        )
    return seen


def require_unchanged(path: Path, seen: LandingObservation) -> None:
    """Confirm the file is as `seen` before it was read (a file that grew meanwhile was read half-written).

    Raises:
        LandingFileIncomplete: its size or mtime differs from `seen`, or it is gone.
    """
    now = observe(path)
    if (now.size, now.mtime) != (seen.size, seen.mtime):
        raise LandingFileIncomplete(Path(path), f"it changed while being read ({seen.size} -> {now.size} bytes)")
