"""Point-in-time training sets: labelled entities of a window, features as of each prediction time, a time split.

The label rule is the use case's (`UseCase.labels`). An entity's label is usable only if it was known by the
training cutoff (`label_known_ts <= cutoff`, cutoff = 00:00 UTC after the window's last day); later labels are
dropped and counted, never guessed. Features come from the point-in-time join as of each entity's prediction
time, so no row sees data observed after it. The split is by entity date: the most recent `test_days` are
held out for evaluation, the `validation_days` before them drive tuning and early stopping, the rest trains.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from mlops.errors import Refusal
from mlops.lakehouse import Lakehouse
from mlops.usecase.contract import ENTITY_DATE

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings
    from mlops.usecase import UseCase

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


class TrainingDataError(Refusal, ValueError):
    """The training data cannot produce a trustworthy model (empty, one class, too small, table missing)."""


class TrainingRequestError(Refusal, ValueError):
    """The training request itself is invalid (a window with no training days, a bad date or number, an
    unknown model family)."""


@dataclass(frozen=True)
class TrainingWindow:
    """Entity dates [first, end] to learn from, how the most recent days are held out, and the label lag.

    Labels of an entity dated D are complete by the end of D + `label_lag_days` (the use case's
    `labels.lag_days`), so the cutoff is 00:00 UTC after `end + label_lag_days`: every day of the
    window, the held-out days included, is judged on complete labels, never on the early ones only.
    """

    end: date
    days: int
    validation_days: int
    test_days: int
    label_lag_days: int = 0

    def __post_init__(self) -> None:
        if self.days <= self.validation_days + self.test_days:
            raise TrainingRequestError(
                f"Training window of {self.days} days leaves no training days after {self.validation_days} "
                f"validation and {self.test_days} test days; use more than {self.validation_days + self.test_days}"
            )

    @classmethod
    def from_settings(cls, settings: Settings, end: date, days: int | None = None) -> TrainingWindow:
        """The environment's window ending on `end` (window length from config unless `days` is given)."""
        from mlops.usecase import usecase_of

        cfg, lag = settings.training, usecase_of(settings).labels.lag_days
        return cls(end, days or cfg.train_window_days, cfg.validation_days, cfg.test_days, lag)

    @property
    def first(self) -> date:
        """First entity date of the window."""
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
        """Training cutoff (UTC): only labels known at or before it are used; the label lag after the end."""
        return datetime.combine(self.end + timedelta(days=1 + self.label_lag_days), time(0), tzinfo=UTC)

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

    frame: pd.DataFrame  # entity keys, prediction time, entity date, model features, the label, `split`
    window: TrainingWindow
    sources: tuple[SourceVersion, ...]
    unlabelled: int  # entities of the window whose label was not yet known at the cutoff
    usecase: UseCase

    @property
    def label(self) -> str:
        """The label column."""
        return self.usecase.labels.column

    def part(self, split: str) -> pd.DataFrame:
        """Rows of one split (`train`, `validation` or `test`)."""
        return self.frame[self.frame["split"] == split]

    def counts(self) -> dict[str, int]:
        """Row counts per split."""
        return {s: int((self.frame["split"] == s).sum()) for s in SPLITS}


def default_window_end(lakehouse: Lakehouse, usecase: UseCase, interval_end: datetime | None = None) -> date:
    """The last entity date to train on when none is given: the latest date whose labels are complete.

    That is `labels.lag_days` before the day before `interval_end` (a scheduled run's data interval),
    and never after the latest date published in the use case's entity table minus the lag.

    Raises:
        TrainingDataError: the entity table does not exist or is empty.
    """
    now = latest_entity_date(lakehouse, usecase)
    if interval_end is not None:
        now = min(now, (interval_end - timedelta(days=1)).date())
    return now - timedelta(days=usecase.labels.lag_days)


def latest_entity_date(lakehouse: Lakehouse, usecase: UseCase) -> date:
    """The latest date published in the use case's entity table (the newest data the features cover).

    Raises:
        TrainingDataError: the entity table does not exist or is empty.
    """
    import pyarrow.compute as pc

    table = usecase.entity_table
    if not lakehouse.exists(table.name):
        raise TrainingDataError(
            f"Cannot choose a training window: {table.name} does not exist at "
            f"{lakehouse.uri(table.name)}; run feature_refresh first"
        )
    dates = lakehouse.read(table.name, columns=[table.date_column]).column(0)
    latest = pc.max(dates).as_py()
    if latest is None:
        raise TrainingDataError(f"Cannot choose a training window: {table.name} has no rows")
    return latest


def check_sources(lakehouse: Lakehouse, usecase: UseCase) -> None:
    """Refuse early when a table the training set reads has never been written.

    Raises:
        TrainingDataError: naming the missing table and its location.
    """
    for name in (usecase.labels.source, *(t.name for t in usecase.features.tables)):
        if not lakehouse.exists(name):
            raise TrainingDataError(
                f"Cannot build the training set: table {name} does not exist at {lakehouse.uri(name)}; "
                "run feature_refresh for the training window first"
            )


def labelled_entities(
    spark: SparkSession, lakehouse: Lakehouse, usecase: UseCase, window: TrainingWindow
) -> tuple[DataFrame, int]:
    """Entity keys + prediction time + label of the window's entities known by the cutoff, and the count dropped."""
    from pyspark.sql import functions as F

    from mlops.features.pit import prediction_entities
    from mlops.features.refresh import read_bronze

    keys = list(usecase.entity.keys)
    entities = prediction_entities(spark, lakehouse, usecase, window.first, window.end)
    source = read_bronze(spark, lakehouse, usecase.labels.source, window.first, window.end)
    labels = usecase.labels.spark(source).dropDuplicates(keys)
    joined = entities.join(labels, keys, "inner")
    known = F.col("label_known_ts") <= F.lit(window.cutoff)
    counts = joined.agg(F.count(F.lit(1)).alias("all"), F.sum(known.cast("long")).alias("known")).first()
    unlabelled = int(counts["all"] or 0) - int(counts["known"] or 0)
    return joined.where(known).drop("label_known_ts"), unlabelled


def build_training_set(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, window: TrainingWindow, *, check_labels: bool = True
) -> TrainingSet:
    """Labelled entities of `window` with point-in-time features, split by date.

    With `check_labels` (training), the label timing check runs first on the window's last `lag_days + 1` days;
    labelled data for comparing models skips it (the rule was checked when the models were trained).

    Raises:
        TrainingDataError: a source table is missing.
        UseCaseError: the label rule reads data published after its labels are known, or labels are known before
            the prediction time or (too many) after `labels.lag_days` (`mlops.training.label_timing`).
    """
    from mlops.features.pit import max_ages, point_in_time_join
    from mlops.training.label_timing import check_label_timing
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    check_sources(lakehouse, usecase)
    if check_labels:
        timing = check_label_timing(spark, lakehouse, usecase, window.first, window.end)
        log.info("Labels of %s are known when they say: %s", usecase.name, timing.summary())
    label_source = usecase.labels.source
    source_version = lakehouse.version(label_source)
    entities, unlabelled = labelled_entities(spark, lakehouse, usecase, window)
    tables = usecase.features.tables
    joined = point_in_time_join(
        spark, entities, lakehouse, tables, timestamp_column=usecase.entity.time_column,
        max_age=max_ages(settings, tables),
    )  # fmt: skip
    try:
        frame = joined.frame.toPandas()
    finally:
        joined.unpersist()
    sources = (
        SourceVersion(label_source, lakehouse.uri(label_source), source_version),
        *(SourceVersion(m.table, lakehouse.uri(m.table), m.version) for m in joined.stats.tables),
    )
    return TrainingSet(_with_split(frame, window, usecase), window, sources, unlabelled, usecase)


def _with_split(frame: pd.DataFrame, window: TrainingWindow, usecase: UseCase) -> pd.DataFrame:
    import numpy as np

    entity, label = usecase.entity, usecase.labels.column
    entity_date = frame[ENTITY_DATE]
    split = np.where(
        entity_date >= window.test_start,
        "test",
        np.where(entity_date >= window.validation_start, "validation", "train"),
    )
    keys = list(entity.keys)
    inputs = [c for c in usecase.features.model_features() if c not in keys]
    out = frame[[*keys, entity.time_column, *inputs, label]].assign(**{ENTITY_DATE: entity_date, "split": split})
    if usecase.model.task == "binary":  # 0/1; multiclass labels stay as delivered (the spec's classes)
        out[label] = out[label].astype("int64")
    order = [entity.time_column, *keys]  # a stable row order makes fits reproducible
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def check_training_set(training: TrainingSet, min_rows: int) -> None:
    """Refuse a training set that cannot give a trustworthy model; the message names the cause.

    Raises:
        TrainingDataError: empty window, too few training rows, a classifier's split with a single class,
            (multiclass) labels outside the model spec's classes or a class missing from the train split, or
            (regression) labels that are not finite numbers.
    """
    window, counts, usecase = training.window, training.counts(), training.usecase
    if len(training.frame) == 0:
        raise TrainingDataError(
            f"Empty training window {window.describe()}: no {usecase.entity.noun} in {usecase.entity.table} has a "
            f"label known by the cutoff ({training.unlabelled} without one); pick a window that feature_refresh "
            "has covered"
        )
    if counts["train"] < min_rows:
        raise TrainingDataError(
            f"Too few training rows in {window.describe()}: {counts['train']} < training.min_training_rows "
            f"{min_rows} (validation {counts['validation']}, test {counts['test']}); widen the window"
        )
    if usecase.model.task == "regression":
        _check_values(training)
        return
    if usecase.model.task == "multiclass":
        _check_classes(training)
    for split in SPLITS:
        classes = sorted(training.part(split)[training.label].unique().tolist())
        if len(classes) < 2:
            raise TrainingDataError(
                f"Single class in the {split} split of {window.describe()}: every one of its {counts[split]} rows "
                f"has {training.label}={classes}; a classifier needs two classes, so widen or move the window"
            )


def _check_classes(training: TrainingSet) -> None:
    """Multiclass: every label is one of the model spec's classes, and the train split holds each of them
    (a class the model never saw would have no probability column)."""
    classes, window, label = list(training.usecase.model.classes or ()), training.window, training.label
    unknown = sorted({str(v) for v in training.frame[label].unique().tolist()} - {str(c) for c in classes})
    if unknown:
        raise TrainingDataError(
            f"Labels outside model.classes {classes} in {window.describe()}: {label} holds {unknown[:5]}; "
            "fix the label rule or list the classes in the model spec"
        )
    seen = {str(v) for v in training.part("train")[label].unique().tolist()}
    missing = [c for c in classes if str(c) not in seen]
    if missing:
        raise TrainingDataError(
            f"Classes {missing} of model.classes never occur in the train split of {window.describe()}; "
            "the model could not predict them, so widen or move the window"
        )


def _check_values(training: TrainingSet) -> None:
    """Regression: every label is a finite number (the label rule must give each entity a value)."""
    import numpy as np
    import pandas as pd

    labels = pd.to_numeric(training.frame[training.label], errors="coerce").to_numpy(dtype="float64")
    bad = int((~np.isfinite(labels)).sum())
    if bad:
        raise TrainingDataError(
            f"{bad} of {len(labels)} labels of {training.window.describe()} are missing or not finite numbers "
            f"({training.label}); a regression label rule must give every entity a value, so fix the rule"
        )
