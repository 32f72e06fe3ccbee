"""Point-in-time training sets: labelled flights of a window, features as of each prediction time, a time split.

Label rule (from `features.definitions.flight_labels`): `delayed` = arrival delay > 15 min, and a cancelled
or diverted flight (no arrival delay) counts as delayed, since for a traveller it is at least as bad. A
flight's label is usable only if its outcome was known by the training cutoff (`label_known_ts <= cutoff`,
cutoff = 00:00 UTC after the window's last day); later outcomes are dropped and counted, never guessed.
Features come from the point-in-time join as of each flight's `prediction_ts`, so no row sees data
observed after its prediction time. The split is by flight date: the most recent `test_days` are held out
for evaluation, the `validation_days` before them drive tuning and early stopping, the rest is training.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from mlops.features.registry import FEATURE_TABLES, FLIGHT_KEY, FLIGHT_SCHEDULE, model_features
from mlops.lakehouse import Lakehouse

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings

LABEL = "delayed"
FLIGHTS_TABLE = "bronze.flights"
SPLITS = ("train", "validation", "test")


class TrainingDataError(ValueError):
    """The training data cannot produce a trustworthy model (empty, one class, too small, table missing)."""


@dataclass(frozen=True)
class TrainingWindow:
    """Flight dates [first, end] to learn from, and how the most recent days are held out."""

    end: date
    days: int
    validation_days: int
    test_days: int

    def __post_init__(self) -> None:
        if self.days <= self.validation_days + self.test_days:
            raise ValueError(
                f"Training window of {self.days} days leaves no training days after {self.validation_days} "
                f"validation and {self.test_days} test days; use more than {self.validation_days + self.test_days}"
            )

    @classmethod
    def from_settings(cls, settings: Settings, end: date, days: int | None = None) -> TrainingWindow:
        """The environment's window ending on `end` (window length from config unless `days` is given)."""
        cfg = settings.training
        return cls(end, days or cfg.train_window_days, cfg.validation_days, cfg.test_days)

    @property
    def first(self) -> date:
        """First flight date of the window."""
        return self.end - timedelta(days=self.days - 1)

    @property
    def validation_start(self) -> date:
        """First validation date."""
        return self.test_start - timedelta(days=self.validation_days)

    @property
    def test_start(self) -> date:
        """First held-out test date."""
        return self.end - timedelta(days=self.test_days - 1)

    @property
    def cutoff(self) -> datetime:
        """Training cutoff (UTC): only outcomes known at or before it are labels."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=UTC)

    def describe(self) -> str:
        """Short text for tags and messages, e.g. `2013-01-01..2013-01-28 (cutoff 2013-01-29T00:00Z)`."""
        return f"{self.first}..{self.end} (cutoff {self.cutoff:%Y-%m-%dT%H:%MZ})"


@dataclass(frozen=True)
class SourceVersion:
    """A Delta table the training set was read from, at the version read (lineage)."""

    table: str
    uri: str
    version: int


@dataclass(frozen=True)
class TrainingSet:
    """Labelled, feature-joined rows with their split, and the table versions they came from."""

    frame: pd.DataFrame  # flight key, prediction_ts, flight_date, model features, `delayed`, `split`
    window: TrainingWindow
    sources: tuple[SourceVersion, ...]
    unlabelled: int  # flights of the window whose outcome was not yet known at the cutoff

    def part(self, split: str) -> pd.DataFrame:
        """Rows of one split (`train`, `validation` or `test`)."""
        return self.frame[self.frame["split"] == split]

    def counts(self) -> dict[str, int]:
        """Row counts per split."""
        return {s: int((self.frame["split"] == s).sum()) for s in SPLITS}


def default_window_end(lakehouse: Lakehouse, interval_end: datetime | None = None) -> date:
    """The last flight date to train on when none is given: the day before `interval_end` (a scheduled
    run's data interval), but never after the latest date published in features.flight_schedule.

    Raises:
        TrainingDataError: features.flight_schedule does not exist or is empty.
    """
    import pyarrow.compute as pc

    if not lakehouse.exists(FLIGHT_SCHEDULE.name):
        raise TrainingDataError(
            f"Cannot choose a training window: {FLIGHT_SCHEDULE.name} does not exist at "
            f"{lakehouse.uri(FLIGHT_SCHEDULE.name)}; run feature_refresh first"
        )
    dates = lakehouse.read(FLIGHT_SCHEDULE.name, columns=[FLIGHT_SCHEDULE.date_column]).column(0)
    latest = pc.max(dates).as_py()
    if latest is None:
        raise TrainingDataError(f"Cannot choose a training window: {FLIGHT_SCHEDULE.name} has no rows")
    if interval_end is None:
        return latest
    return min(latest, (interval_end - timedelta(days=1)).date())


def check_sources(lakehouse: Lakehouse) -> None:
    """Refuse early when a table the training set reads has never been written.

    Raises:
        TrainingDataError: naming the missing table and its location.
    """
    for name in (FLIGHTS_TABLE, *(t.name for t in FEATURE_TABLES)):
        if not lakehouse.exists(name):
            raise TrainingDataError(
                f"Cannot build the training set: table {name} does not exist at {lakehouse.uri(name)}; "
                "run feature_refresh for the training window first"
            )


def labelled_entities(spark: SparkSession, lakehouse: Lakehouse, window: TrainingWindow) -> tuple[DataFrame, int]:
    """Flight key + prediction_ts + label of the window's flights known by the cutoff, and the count dropped."""
    from pyspark.sql import functions as F

    from mlops.features.definitions import flight_labels
    from mlops.features.jobs import read_bronze
    from mlops.features.pit import prediction_entities

    entities = prediction_entities(spark, lakehouse, window.first, window.end)
    flights = read_bronze(spark, lakehouse, FLIGHTS_TABLE, window.first, window.end)
    labels = flight_labels(flights).dropDuplicates(list(FLIGHT_KEY))
    joined = entities.join(labels, list(FLIGHT_KEY), "inner")
    known = F.col("label_known_ts") <= F.lit(window.cutoff)
    counts = joined.agg(F.count(F.lit(1)).alias("all"), F.sum(known.cast("long")).alias("known")).first()
    unlabelled = int(counts["all"] or 0) - int(counts["known"] or 0)
    return joined.where(known).drop("label_known_ts"), unlabelled


def build_training_set(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, window: TrainingWindow
) -> TrainingSet:
    """Labelled flights of `window` with point-in-time features, split by date.

    Raises:
        TrainingDataError: a source table is missing.
    """
    from mlops.features.pit import max_ages, point_in_time_join

    check_sources(lakehouse)
    flights_version = lakehouse.version(FLIGHTS_TABLE)
    entities, unlabelled = labelled_entities(spark, lakehouse, window)
    joined = point_in_time_join(spark, entities, lakehouse, max_age=max_ages(settings))
    try:
        frame = joined.frame.toPandas()
    finally:
        joined.unpersist()
    sources = (
        SourceVersion(FLIGHTS_TABLE, lakehouse.uri(FLIGHTS_TABLE), flights_version),
        *(SourceVersion(m.table, lakehouse.uri(m.table), m.version) for m in joined.stats.tables),
    )
    return TrainingSet(_with_split(frame, window), window, sources, unlabelled)


def _with_split(frame: pd.DataFrame, window: TrainingWindow) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    flight_date = pd.to_datetime(frame[["year", "month", "day"]]).dt.date
    split = np.where(
        flight_date >= window.test_start,
        "test",
        np.where(flight_date >= window.validation_start, "validation", "train"),
    )
    keep = [*FLIGHT_KEY, "prediction_ts", *[c for c in model_features() if c not in FLIGHT_KEY], LABEL]
    out = frame[keep].assign(flight_date=flight_date, split=split)
    out[LABEL] = out[LABEL].astype("int64")
    order = ["prediction_ts", *FLIGHT_KEY]  # a stable row order makes fits reproducible
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def check_training_set(training: TrainingSet, min_rows: int) -> None:
    """Refuse a training set that cannot give a trustworthy model; the message names the cause.

    Raises:
        TrainingDataError: empty window, too few training rows, or a split with a single class.
    """
    window, counts = training.window, training.counts()
    if len(training.frame) == 0:
        raise TrainingDataError(
            f"Empty training window {window.describe()}: no flight in {FLIGHT_SCHEDULE.name} has an outcome known "
            f"by the cutoff ({training.unlabelled} without one); pick a window that feature_refresh has covered"
        )
    if counts["train"] < min_rows:
        raise TrainingDataError(
            f"Too few training rows in {window.describe()}: {counts['train']} < training.min_training_rows "
            f"{min_rows} (validation {counts['validation']}, test {counts['test']}); widen the window"
        )
    for split in SPLITS:
        classes = sorted(training.part(split)[LABEL].unique().tolist())
        if len(classes) < 2:
            raise TrainingDataError(
                f"Single class in the {split} split of {window.describe()}: every one of its {counts[split]} rows "
                f"has {LABEL}={classes}; a classifier needs both classes, so widen or move the window"
            )
