"""Whether a use case's labels are known when they say: never before the prediction, by the lag, from past data.

A label claims to be known at `label_known_ts`. Three checks on real bronze, over the last `lag_days + 1` entity
dates of a window (cheap: a few days of entities, the label rule run `lag_days + 2` times over the window):
- no label is known before its entity's prediction time (that label would leak into the prediction);
- labels are known by 00:00 UTC after the entity date plus `labels.lag_days` (a straggler is dropped by the
  training cutoff; more than `LATE_TOLERANCE` of them means the declared lag is wrong);
- the rule reads no data published after `label_known_ts`: the labels computed from bronze cut after day X (its
  `date` partitions up to X, as the point-in-time rule lets an entity of date X see partitions up to X) equal
  those computed from all bronze, for every label known by the end of X.
Training runs it before building a training set; `python -m mlops.usecase.check` runs it on the latest window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mlops.usecase.contract import ENTITY_DATE, UseCase, UseCaseError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

    from mlops.lakehouse import Lakehouse

KNOWN = "label_known_ts"
LATE_TOLERANCE = 0.01  # share of checked labels that may arrive after lag_days (dropped by the cutoff, counted)
FIELD = "labels.spark"
PAST_LABEL = "__past_label"


@dataclass(frozen=True)
class LabelTiming:
    """What the timing check compared: the entity dates, how many labels, how many arrived late, how long."""

    usecase: str
    dates: tuple[date, ...]
    labels: int
    late: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        """Small dict for logs and run metadata."""
        return {
            "label_timing_dates": [d.isoformat() for d in self.dates],
            "label_timing_labels": self.labels,
            "label_timing_late": self.late,
            "label_timing_seconds": round(self.seconds, 2),
        }


def check_label_timing(
    spark: SparkSession, lakehouse: Lakehouse, usecase: UseCase, first: date, last: date
) -> LabelTiming:
    """Check the labels of the entities dated in the last `lag_days + 1` days of [first, last] (one Spark job when
    they pass; a refusal fetches one example).

    Args:
        first: the earliest bronze date the label rule reads (a training window's first day).
        last: the latest entity date (a training window's end).

    Raises:
        UseCaseError: naming the use case, the label column, how many labels break the rule and one example.
    """
    from pyspark.sql import functions as F

    started, lag = time.perf_counter(), usecase.labels.lag_days
    start = max(first, last - timedelta(days=lag))
    dates = tuple(start + timedelta(days=i) for i in range((last - start).days + 1))
    rows = _entity_labels(spark, lakehouse, usecase, first, last + timedelta(days=lag + 1), dates)
    deadline = F.to_utc_timestamp(F.date_add(F.col(ENTITY_DATE), lag + 1).cast("timestamp"), "UTC")
    checks = {
        "early": (rows, F.col(KNOWN) < F.col(usecase.entity.time_column)),
        "late": (rows, F.col(KNOWN) > deadline),
        **{cut: _compared_at(spark, lakehouse, usecase, rows, first, cut) for cut in dates},
    }
    counts = _count(checks)
    _refuse_early(usecase, counts["early"], *checks["early"])
    _refuse_late(usecase, counts["late"], *checks["late"])
    for cut in dates:
        _refuse_moved(usecase, cut, counts[cut], *checks[cut])
    return LabelTiming(usecase.name, dates, counts["early"][0], counts["late"][1], time.perf_counter() - started)


def _labels(spark: SparkSession, lakehouse: Lakehouse, usecase: UseCase, first: date, last: date) -> DataFrame:
    """The label rule over bronze partitions [first, last], one row per entity key."""
    from mlops.features.refresh import read_bronze

    source = read_bronze(spark, lakehouse, usecase.labels.source, first, last)
    return usecase.labels.spark(source).dropDuplicates(list(usecase.entity.keys))


def _entity_labels(
    spark: SparkSession, lakehouse: Lakehouse, usecase: UseCase, first: date, last: date, dates: tuple[date, ...]
) -> DataFrame:
    """Entities dated in `dates` with their prediction time and their label from all bronze in [first, last]."""
    from mlops.features.pit import prediction_entities

    keys = list(usecase.entity.keys)
    entities = prediction_entities(spark, lakehouse, usecase, dates[0], dates[-1])
    labels = _labels(spark, lakehouse, usecase, first, last).select(*keys, usecase.labels.column, KNOWN)
    return entities.join(labels, keys, "inner")


def _compared_at(
    spark: SparkSession, lakehouse: Lakehouse, usecase: UseCase, rows: DataFrame, first: date, cut: date
) -> tuple[DataFrame, Column]:
    """The labels known by the end of `cut`, beside the same rule's labels from bronze up to `cut`; the flag of
    those that differ."""
    from pyspark.sql import functions as F

    keys, column = list(usecase.entity.keys), usecase.labels.column
    known = rows.where(F.to_date(F.col(KNOWN)) <= F.lit(cut))
    past = _labels(spark, lakehouse, usecase, first, cut).select(
        *keys, F.col(column).alias(PAST_LABEL), F.col(KNOWN).alias("__past_known")
    )
    same = F.col(column).eqNullSafe(F.col(PAST_LABEL)) & F.col(KNOWN).eqNullSafe(F.col("__past_known"))
    return known.join(past, keys, "left"), ~same


def _count(checks: dict[Any, tuple[DataFrame, Column]]) -> dict[Any, tuple[int, int]]:
    """(rows, flagged rows) of every check, in one Spark job."""
    from functools import reduce

    from pyspark.sql import functions as F

    names = list(checks)
    parts = [
        frame.select(F.lit(i).alias("__check"), flag.cast("long").alias("__bad"))
        for i, (frame, flag) in enumerate(checks.values())
    ]
    union = reduce(lambda a, b: a.unionByName(b), parts)
    found = {
        r["__check"]: r
        for r in union.groupBy("__check").agg(F.count(F.lit(1)).alias("n"), F.sum("__bad").alias("bad")).collect()
    }
    return {
        name: (int(found[i]["n"]), int(found[i]["bad"] or 0)) if i in found else (0, 0) for i, name in enumerate(names)
    }


def _refuse_early(usecase: UseCase, counts: tuple[int, int], rows: DataFrame, flag: Column) -> None:
    (total, early), entity = counts, usecase.entity
    if early:
        example = _describe(usecase, rows.where(flag).first(), (entity.time_column, KNOWN))
        raise UseCaseError(
            usecase.name,
            FIELD,
            f"{early} of {total} labels {usecase.labels.column!r} are known before their {entity.noun}'s prediction "
            f"time ({entity.time_column}), e.g. {example}; a label known before the prediction leaks into it: fix "
            f"{KNOWN} in the label rule",
        )


def _refuse_late(usecase: UseCase, counts: tuple[int, int], rows: DataFrame, flag: Column) -> None:
    (total, late), lag = counts, usecase.labels.lag_days
    if late > LATE_TOLERANCE * total:
        example = _describe(usecase, rows.where(flag).first(), (ENTITY_DATE, KNOWN))
        raise UseCaseError(
            usecase.name,
            FIELD,
            f"{late} of {total} labels {usecase.labels.column!r} are known after labels.lag_days={lag} allows "
            f"(00:00 UTC {lag + 1} day(s) after the entity date), e.g. {example}; raise labels.lag_days or fix {KNOWN}",
        )


def _refuse_moved(usecase: UseCase, cut: date, counts: tuple[int, int], compared: DataFrame, flag: Column) -> None:
    (total, moved), column = counts, usecase.labels.column
    if moved:
        row = compared.where(flag).first()
        raise UseCaseError(
            usecase.name,
            FIELD,
            f"label {column!r} reads data published after its {KNOWN}: {moved} of {total} labels known by {cut} "
            f"change when bronze stops at {cut}, e.g. {_describe(usecase, row, (KNOWN,))}: {row[column]!r} from all "
            f"bronze, {row[PAST_LABEL]!r} from bronze up to {cut}; a label may use only bronze dated up to its {KNOWN}",
        )


def _describe(usecase: UseCase, row: Row, extra: tuple[str, ...]) -> str:
    """`year=2013, month=1, ..., label_known_ts=...` of one row."""
    names = [*usecase.entity.keys, *extra]
    return ", ".join(f"{n}={row[n]}" for n in names)
