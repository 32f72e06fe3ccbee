"""The scoring set: the data date's entities with point-in-time features, staged for the gate and the engines.

Rows are built exactly like training rows (same entity frame, same PIT join, same age limits), so a
prediction sees only data observable before its prediction time. Model inputs are stored with the
types the model's signature expects (categoricals as strings, numbers as doubles), so both scoring
engines hand the model identical values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mlops.usecase.contract import ENTITY_DATE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse, WriteResult
    from mlops.usecase import UseCase

SCORING_SET = "staging.scoring_set"


class FeaturesNotReadyError(RuntimeError):
    """The use case's entity table has not been published for the date yet (feature_refresh is behind)."""


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


def key_columns(usecase: UseCase) -> tuple[str, ...]:
    """Columns that identify a prediction: the entity keys and the prediction time."""
    return (*usecase.entity.keys, usecase.entity.time_column)


def input_columns(usecase: UseCase) -> tuple[str, ...]:
    """Model inputs that are not also key columns (a key may also be an input)."""
    return tuple(c for c in usecase.features.model_features() if c not in usecase.entity.keys)


def check_features_ready(lakehouse: Lakehouse, usecase: UseCase, day: date) -> None:
    """Refuse to score a date whose entity table has not been published (a retry may find it later).

    Raises:
        FeaturesNotReadyError: the table is missing or its latest date is before `day`.
    """
    import pyarrow.compute as pc

    table = usecase.entity_table.name
    if not lakehouse.exists(table):
        raise FeaturesNotReadyError(f"{table} does not exist at {lakehouse.uri(table)}: run feature_refresh first")
    dates = lakehouse.read(table, columns=[usecase.entity_table.date_column]).column(0)
    latest = pc.max(dates).as_py()
    if latest is None or latest < day:
        raise FeaturesNotReadyError(
            f"{table} is published up to {latest}, not yet for {day}: feature_refresh for {day} has not finished"
        )


def build_scoring_set(spark: SparkSession, lakehouse: Lakehouse, settings: Settings, day: date) -> ScoringSet:
    """Stage the entities of `day` with their PIT features in staging.scoring_set (partition replaced).

    Raises:
        FeaturesNotReadyError: the date's features are not published yet.
    """
    from pyspark.sql import functions as F

    from mlops.features.pit import max_ages, point_in_time_join, prediction_entities
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    check_features_ready(lakehouse, usecase, day)
    entities = prediction_entities(spark, lakehouse, usecase, day, day)
    tables, date_column = usecase.features.tables, ENTITY_DATE
    joined = point_in_time_join(
        spark, entities, lakehouse, tables, timestamp_column=usecase.entity.time_column,
        max_age=max_ages(settings, tables),
    )  # fmt: skip
    try:
        categorical = usecase.model.categorical
        model_columns = [
            F.col(c).cast("string" if c in categorical else "double").alias(c) for c in input_columns(usecase)
        ]
        frame = joined.frame.select(*key_columns(usecase), F.lit(day).cast("date").alias(date_column), *model_columns)
        write = lakehouse.write_spark(
            frame, SCORING_SET, mode="replace_partition", partition={date_column: day}, partition_by=[date_column]
        )
    finally:
        joined.unpersist()
    return ScoringSet(day, joined.stats.rows, joined.stats.summary(), write)
