"""Training set: point-in-time labels and features, the time split, the cancelled-flight rule, refusals."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta

import pytest

from mlops.config import load_settings
from mlops.training.dataset import (
    TrainingDataError,
    TrainingWindow,
    build_training_set,
    check_sources,
    check_training_set,
    default_window_end,
)
from tests.unit._training import LAST, shared_training_set, training_lakehouse
from usecases.flight_delay import usecase
from usecases.flight_delay.features import FLIGHT_SCHEDULE
from usecases.flight_delay.labels import LABEL

USECASE = usecase()

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def settings():
    return load_settings("staging")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return training_lakehouse(tmp_path_factory.mktemp("training") / "lakehouse")


@pytest.fixture(scope="module")
def training(spark):
    return shared_training_set(spark)


def test_training_window_rejects_a_window_without_training_days():
    with pytest.raises(ValueError, match="leaves no training days"):
        TrainingWindow(date(2013, 1, 10), days=6, validation_days=3, test_days=3)


def test_training_set_keeps_only_outcomes_known_by_the_cutoff(spark, training, lake):
    schedule = lake.read_pandas(FLIGHT_SCHEDULE.name)
    in_window = schedule[schedule["feature_date"].between(training.window.first, training.window.end)]
    # The cutoff waits the label lag (flights: 1 day), so even the last day's late arrivals are labels.
    assert training.window.label_lag_days == 1 and training.unlabelled == 0
    assert len(training.frame) == len(in_window)
    # A cutoff at the end of the last day (no lag) drops that day's flights still in the air then.
    early = replace(training.window, label_lag_days=0)
    settings = load_settings("staging")
    dropped = build_training_set(spark, lake, settings, early)
    assert dropped.unlabelled > 0 and len(dropped.frame) + dropped.unlabelled == len(in_window)


def test_training_set_holds_out_the_most_recent_days_for_test(training):
    window = training.window
    dates = {s: set(training.part(s)["entity_date"]) for s in ("train", "validation", "test")}
    assert min(dates["test"]) == window.test_start and max(dates["test"]) == window.end
    assert max(dates["validation"]) < window.test_start <= min(dates["test"])
    assert max(dates["train"]) < window.validation_start


def test_training_set_counts_cancelled_flights_as_delayed(training, lake):
    flights = lake.read_pandas("bronze.flights")
    cancelled = flights[flights["dep_time"].isna()][["carrier", "flight", "year", "month", "day"]]
    merged = training.frame.merge(cancelled, on=["carrier", "flight", "year", "month", "day"])
    assert len(merged) > 0 and (merged[LABEL] == 1).all()


def test_training_set_records_every_source_table_version(training):
    tables = {s.table for s in training.sources}
    assert "bronze.flights" in tables and "features.aircraft_stats" in tables
    assert all(s.version == 0 and s.uri.endswith(s.table.replace(".", "/")) for s in training.sources)


def test_check_training_set_refuses_an_empty_window(spark, lake, settings):
    empty = build_training_set(spark, lake, settings, TrainingWindow.from_settings(settings, date(2013, 6, 30), 10))
    with pytest.raises(TrainingDataError, match="Empty training window 2013-06-21..2013-06-30"):
        check_training_set(empty, 1)


def test_check_training_set_refuses_too_few_rows(training):
    with pytest.raises(TrainingDataError, match=r"Too few training rows .*< training.min_training_rows 1000000"):
        check_training_set(training, 1_000_000)


def test_check_training_set_refuses_a_single_class(training):
    frame = training.frame.assign(**{LABEL: 0})
    with pytest.raises(TrainingDataError, match="Single class in the train split"):
        check_training_set(replace(training, frame=frame), 1)


def test_check_sources_names_a_missing_feature_table(lake, tmp_path):
    shutil.copytree(lake.root, tmp_path / "copy")
    shutil.rmtree(tmp_path / "copy" / "features" / "route_stats")
    from mlops.lakehouse import Lakehouse

    with pytest.raises(TrainingDataError, match="features.route_stats does not exist"):
        check_sources(Lakehouse(str(tmp_path / "copy")), USECASE)


def test_default_window_end_is_capped_by_the_latest_published_day(lake):
    from datetime import UTC, datetime

    # The latest day whose labels are complete: a label lag (1 day for flights) before the data's end.
    assert default_window_end(lake, USECASE) == LAST - timedelta(days=1)
    assert default_window_end(lake, USECASE, datetime(2013, 1, 10, tzinfo=UTC)) == date(2013, 1, 8)
    assert default_window_end(lake, USECASE, datetime(2013, 3, 1, tzinfo=UTC)) == LAST - timedelta(days=1)
