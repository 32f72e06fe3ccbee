"""Label lag is a first-class fact: a use case whose labels arrive two days late trains, deploys and is monitored
on complete labels (training cutoffs, the compliance sample, comparison windows, monitoring)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from mlops.lakehouse import Lakehouse
from mlops.training.dataset import TrainingWindow, build_training_set, default_window_end, latest_entity_date
from mlops.usecase import UseCaseError, usecase_of
from tests.unit._training import LAST, training_lakehouse
from tests.unit._variants import LATE_LABELS, register_variant

pytestmark = pytest.mark.spark
WINDOW = 10  # Jan 9..18


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """Two variants of flights on copies of the training lakehouse, with labels complete two days after their
    date: `late_labels` declares lag 2, `undeclared_lag` declares 0 (what a platform ignoring the lag does)."""
    home = tmp_path_factory.mktemp("label_lag")
    with pytest.MonkeyPatch.context() as patch:
        out = {}
        for name, lag in (("late_labels", 2), ("undeclared_lag", 0)):
            register_variant(home, patch, name, ", labels=labels", LATE_LABELS.format(lag=lag))
            out[name] = training_lakehouse(home / "lakehouse" / name)
        patch.setenv(ENV_LAKEHOUSE_ROOT, str(home / "lakehouse"))
        yield {name: (load_settings("staging", usecase=name), lake) for name, lake in out.items()}


@pytest.fixture
def late(variants):
    return variants["late_labels"]


@pytest.fixture
def undeclared(variants):
    return variants["undeclared_lag"]


def test_the_training_cutoff_waits_the_label_lag(late):
    settings, _ = late
    window = TrainingWindow.from_settings(settings, LAST, WINDOW)
    assert usecase_of(settings).labels.lag_days == 2
    assert window.cutoff == datetime(2013, 1, 21, tzinfo=UTC)  # end of Jan 18 + 2 days


def test_held_out_days_keep_their_labels_with_a_two_day_lag(spark, late, undeclared):
    sets = {}
    for name, (settings, lake) in (("late", late), ("undeclared", undeclared)):
        window = TrainingWindow.from_settings(settings, LAST, WINDOW)
        sets[name] = build_training_set(spark, lake, settings, window, check_labels=name == "late")
    # Training refuses the undeclared lag (the label timing check); without that check it would lose labels:
    settings, lake = undeclared
    with pytest.raises(
        UseCaseError, match=r"'undeclared_lag': labels.spark: 341 of 341 labels 'delayed' are known aft"
    ):
        build_training_set(spark, lake, settings, TrainingWindow.from_settings(settings, LAST, WINDOW))

    def rows_per_day(training):
        return training.part("test").groupby("entity_date").size().to_dict()

    late_days, undeclared_days = rows_per_day(sets["late"]), rows_per_day(sets["undeclared"])
    # Declared lag: every held-out day keeps all its labels. Ignored lag: the last day loses them all and
    # the day before loses its evening flights, so the held-out set is no longer the days it claims to be.
    assert set(late_days) == {LAST - timedelta(days=i) for i in range(3)} and sets["late"].unlabelled == 0
    assert LAST not in undeclared_days
    assert undeclared_days[LAST - timedelta(days=1)] < late_days[LAST - timedelta(days=1)]


def test_the_default_window_ends_where_labels_are_complete(late):
    settings, lake = late
    usecase = usecase_of(settings)
    assert latest_entity_date(lake, usecase) == LAST
    assert default_window_end(lake, usecase) == LAST - timedelta(days=2)
    assert default_window_end(lake, usecase, datetime(2013, 1, 10, tzinfo=UTC)) == date(2013, 1, 7)


def test_the_compliance_sample_has_rows_with_a_two_day_lag(spark, late, undeclared):
    from mlops.registry.evaluation import current_sample

    settings, lake = late
    sample = current_sample(spark, lake, settings)
    assert len(sample) == 200 and list(sample.columns) == list(usecase_of(settings).features.model_features())
    # Ignoring the lag, the latest day has no label known yet, so the check would have nothing to predict on.
    settings, lake = undeclared
    assert len(current_sample(spark, lake, settings)) == 0


def test_the_comparison_window_ends_at_the_last_day_with_complete_labels(spark, late):
    from mlops.registry.evaluation import labelled_after

    settings, lake = late
    data = labelled_after(spark, lake, settings, after=date(2013, 1, 12))
    assert (data.first, data.last) == (date(2013, 1, 13), LAST - timedelta(days=2))
    assert set(data.frame["entity_date"]) == {date(2013, 1, 13) + timedelta(days=i) for i in range(4)}


def test_monitoring_measures_the_day_the_labels_are_complete(spark, late):
    from mlops.monitoring.performance import labelled_predictions

    settings, lake = late
    usecase = usecase_of(settings)
    _publish_predictions(lake, usecase, date(2013, 1, 15), days=3)
    day = date(2013, 1, 17)  # the monitoring run of Jan 17 sees labels known by Jan 18 00:00
    cutoff = datetime(2013, 1, 18, tzinfo=UTC)
    measured = day - timedelta(days=usecase.labels.lag_days)
    rows, total = labelled_predictions(lake, usecase, measured, measured, "1", cutoff)
    assert measured == date(2013, 1, 15) and total > 0 and len(rows) == total  # all of Jan 15 is labelled
    today, total = labelled_predictions(lake, usecase, day, day, "1", cutoff)
    assert total > 0 and len(today) == 0  # Jan 17 has no label yet: measuring it would judge on nothing


def _publish_predictions(lake: Lakehouse, usecase, first: date, days: int) -> None:
    """gold.predictions rows of version 1 for every entity of `days` days from `first` (probability 0.5)."""
    import pandas as pd
    import pyarrow as pa

    keys = [*usecase.entity.keys, usecase.entity.time_column]
    table = usecase.entity_table
    rows = lake.read_pandas(table.name, filters=[(table.date_column, ">=", first)])
    rows = rows[rows[table.date_column] < first + timedelta(days=days)]
    out = rows[keys].assign(
        entity_date=rows[table.date_column], probability=0.5, decision=True, model_version="1",
        scored_at=pd.Timestamp("2013-02-01", tz="UTC"),
    )  # fmt: skip
    lake.append("gold.predictions", pa.Table.from_pandas(out, preserve_index=False), partition_by=["entity_date"])
