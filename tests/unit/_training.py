"""Test helper: a lakehouse with bronze and every feature table for a small EWR window, built once per session.

The feature tables come from the pandas oracle (the Spark jobs' reference implementation), written through
the Lakehouse with the registered column types: the same rows feature_refresh would publish, in seconds.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa

from mlops.lakehouse import Lakehouse
from mlops.schemas import SPARK_TO_ARROW
from tests.unit._bronze import reference_frames, to_bronze, write_bronze
from usecases.flight_delay.datasets import FLIGHTS, PLANES, WEATHER
from usecases.flight_delay.features import FEATURE_TABLES, column_dtypes
from usecases.flight_delay.oracle import compute_feature_table_pandas

FIRST, LAST = date(2013, 1, 1), date(2013, 1, 18)
ORIGINS = ("EWR",)
WINDOW_DAYS = 18


@lru_cache(maxsize=1)
def _template() -> Path:
    root = Path(tempfile.mkdtemp(prefix="mlops-training-lake-")) / "lakehouse"
    lakehouse = Lakehouse(str(root))
    frames = reference_frames(FIRST, LAST, ORIGINS)
    write_bronze(lakehouse, frames)
    bronze = {
        name: to_bronze(frame, dataset).to_pandas()
        for (name, frame), dataset in zip(frames.items(), (FLIGHTS, WEATHER, PLANES), strict=True)
    }
    days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    for table in FEATURE_TABLES:
        rows = pd.concat([compute_feature_table_pandas(table.name, day, bronze) for day in days], ignore_index=True)
        schema = pa.schema([(c, SPARK_TO_ARROW[t]) for c, t in column_dtypes(table).items()])
        arrow = pa.Table.from_pandas(rows[list(schema.names)], schema=schema, preserve_index=False)
        lakehouse.append(table.name, arrow, partition_by=[table.date_column])
    return root


def training_lakehouse(destination: Path) -> Lakehouse:
    """A private copy of the session's training lakehouse at `destination` (tests may write to it)."""
    shutil.copytree(_template(), destination)
    return Lakehouse(str(destination))


_SETS: dict[str, object] = {}


def shared_training_set(spark):
    """The training set of the whole window on the session's (read-only) template lakehouse, built once."""
    from mlops.config import load_settings
    from mlops.training.dataset import TrainingWindow, build_training_set

    if "set" not in _SETS:
        settings = load_settings("staging")
        window = TrainingWindow.from_settings(settings, LAST, WINDOW_DAYS)
        _SETS["set"] = build_training_set(spark, Lakehouse(str(_template())), settings, window)
    return _SETS["set"]
