"""The landing zone: where a use case's daily delivery of each dataset lands, and how files are written there."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.config import Settings


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
