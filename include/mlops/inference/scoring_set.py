"""The scoring set: the data date's scheduled flights with point-in-time features, staged for the gate and the engines.

Rows are built exactly like training rows (same entity frame, same PIT join, same age limits), so a
prediction sees only data observable before its prediction time. Model inputs are stored with the
types the model's signature expects (categoricals as strings, numbers as doubles), so both scoring
engines hand the model identical values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mlops.features.registry import FLIGHT_KEY, FLIGHT_SCHEDULE, model_features
from mlops.training.model import CATEGORICAL

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse, WriteResult

SCORING_SET = "staging.scoring_set"
DATE_COLUMN = "flight_date"  # the scheduled local date of the flight: the data date of the run


class FeaturesNotReadyError(RuntimeError):
    """features.flight_schedule has not been published for the date yet (feature_refresh is behind)."""


@dataclass(frozen=True)
class ScoringSet:
    """What was staged for one date: row count, PIT match counts per table, the staged table version."""

    day: date
    rows: int
    pit: dict[str, Any]
    write: WriteResult

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom."""
        return {"date": self.day.isoformat(), "rows": self.rows, "version": self.write.version, "pit": self.pit}


def key_columns() -> tuple[str, ...]:
    """Columns that identify a prediction: the flight key and its prediction time."""
    return (*FLIGHT_KEY, "prediction_ts")


def input_columns() -> tuple[str, ...]:
    """Model inputs that are not also key columns (carrier, origin and month are both)."""
    return tuple(c for c in model_features() if c not in FLIGHT_KEY)


def check_features_ready(lakehouse: Lakehouse, day: date) -> None:
    """Refuse to score a date whose flight schedule has not been published (a retry may find it later).

    Raises:
        FeaturesNotReadyError: the table is missing or its latest date is before `day`.
    """
    import pyarrow.compute as pc

    table = FLIGHT_SCHEDULE.name
    if not lakehouse.exists(table):
        raise FeaturesNotReadyError(f"{table} does not exist at {lakehouse.uri(table)}: run feature_refresh first")
    dates = lakehouse.read(table, columns=[FLIGHT_SCHEDULE.date_column]).column(0)
    latest = pc.max(dates).as_py()
    if latest is None or latest < day:
        raise FeaturesNotReadyError(
            f"{table} is published up to {latest}, not yet for {day}: feature_refresh for {day} has not finished"
        )


def build_scoring_set(spark: SparkSession, lakehouse: Lakehouse, settings: Settings, day: date) -> ScoringSet:
    """Stage the scheduled flights of `day` with their PIT features in staging.scoring_set (partition replaced).

    Raises:
        FeaturesNotReadyError: the date's features are not published yet.
    """
    from pyspark.sql import functions as F

    from mlops.features.pit import max_ages, point_in_time_join, prediction_entities

    check_features_ready(lakehouse, day)
    entities = prediction_entities(spark, lakehouse, day, day)
    joined = point_in_time_join(spark, entities, lakehouse, max_age=max_ages(settings))
    try:
        model_columns = [F.col(c).cast("string" if c in CATEGORICAL else "double").alias(c) for c in input_columns()]
        frame = joined.frame.select(*key_columns(), F.lit(day).cast("date").alias(DATE_COLUMN), *model_columns)
        write = lakehouse.write_spark(
            frame, SCORING_SET, mode="replace_partition", partition={DATE_COLUMN: day}, partition_by=[DATE_COLUMN]
        )
    finally:
        joined.unpersist()
    return ScoringSet(day, joined.stats.rows, joined.stats.summary(), write)
