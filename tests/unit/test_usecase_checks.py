"""Checks of a use case's code against its contract: the dry run of its Spark code over empty declared-schema
bronze tables, and the timing of its labels on real data. Each broken copy fails with one message."""

from __future__ import annotations

import dataclasses
import time
from datetime import date

import pytest

from mlops.config import load_settings
from mlops.lakehouse import Lakehouse
from mlops.training.label_timing import check_label_timing
from mlops.usecase import UseCase, UseCaseError, usecase_of
from mlops.usecase.schema_check import dry_run_usecase
from tests.unit import _broken_rules as broken
from tests.unit._bike import bike_settings, shared_lakehouse
from tests.unit._training import FIRST, LAST, training_lakehouse

WEATHER_COLUMNS = (
    "origin, year, month, day, hour, temp, dewp, humid, wind_dir, wind_speed, wind_gust, precip, pressure, "
)
LINEAGE = "bronze adds date, _source_file, _ingested_at, _run_id"


@pytest.fixture(scope="module")
def flights_settings():
    return load_settings("staging", usecase="flight_delay")


@pytest.fixture(scope="module")
def flights(flights_settings) -> UseCase:
    return usecase_of(flights_settings)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lakehouse:
    return training_lakehouse(tmp_path_factory.mktemp("timing") / "lakehouse")


# ---- dry run over empty declared-schema bronze ------------------------------------------------------------------
def test_the_real_use_cases_pass_the_dry_run_in_seconds(spark, flights, flights_settings):
    bike = bike_settings()
    for usecase, settings in ((flights, flights_settings), (usecase_of(bike), bike)):
        dry_run_usecase(spark, usecase, settings)  # warm: the first analysis of a session pays the JIT
        started = time.perf_counter()
        dry = dry_run_usecase(spark, usecase, settings)
        assert dry.tables == tuple(t.name for t in usecase.features.tables)
        assert time.perf_counter() - started < 60


def test_a_feature_job_reading_an_undeclared_column_is_refused_naming_it(spark, flights, flights_settings):
    usecase = broken.with_job(flights, broken.WEATHER_TABLE, broken.snowfall_weather_job)
    with pytest.raises(UseCaseError) as caught:
        dry_run_usecase(spark, usecase, flights_settings)
    assert str(caught.value) == (
        "Use case 'flight_delay': features.origin_weather: reads column 'snowfall' that datasets.weather does not "
        f"declare (declared: {WEATHER_COLUMNS}visib, time_hour; {LINEAGE})"
    )


def _job_returning(flights, change):
    def job(spark, lakehouse, settings, first, last):
        from pyspark.sql import functions as F

        return change(flights.features.compute[broken.WEATHER_TABLE](spark, lakehouse, settings, first, last), F)

    return broken.with_job(flights, broken.WEATHER_TABLE, job)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda df, F: df.drop("temp"), "returns no column ['temp'] that the catalog declares"),
        (lambda df, F: df.withColumn("x", F.lit(1)), "returns columns ['x'] that the catalog does not declare"),
        (lambda df, F: df.withColumn("temp", F.lit("hot")), "returns other types than the catalog: temp is string"),
        (lambda df, F: df.select(F.col("temp") + F.col("wind_chill")), "reads column 'wind_chill'"),
    ],
)  # fmt: skip
def test_a_job_whose_output_breaks_its_catalog_is_refused(spark, flights, flights_settings, change, problem):
    with pytest.raises(UseCaseError) as caught:
        dry_run_usecase(spark, _job_returning(flights, change), flights_settings)
    assert caught.value.field_name == "features.origin_weather" and problem in caught.value.problem


def test_a_job_reading_a_table_no_dataset_declares_is_refused(spark, flights, flights_settings):
    def job(spark, lakehouse, *_):
        return lakehouse.read_spark(spark, "silver.radar")

    problem = (
        "reads table 'silver.radar' that no dataset declares (declared: bronze.flights, bronze.weather, bronze.planes)"
    )
    with pytest.raises(UseCaseError) as caught:
        dry_run_usecase(spark, broken.with_job(flights, broken.WEATHER_TABLE, job), flights_settings)
    assert caught.value.field_name == "features.origin_weather" and caught.value.problem == problem


def test_a_label_rule_reading_an_undeclared_column_is_refused_in_either_engine(spark, flights, flights_settings):
    spark_rule = broken.with_labels(flights, lambda rows: rows.select("year", "cancelled"))
    with pytest.raises(UseCaseError, match=r"labels.spark: reads column 'cancelled' that datasets.flights does not"):
        dry_run_usecase(spark, spark_rule, flights_settings)
    pandas_rule = dataclasses.replace(flights, labels=dataclasses.replace(flights.labels, pandas=lambda r: r["gate"]))
    with pytest.raises(UseCaseError, match=r"labels.pandas: reads column 'gate' that datasets.flights does not"):
        dry_run_usecase(spark, pandas_rule, flights_settings)


def test_a_label_rule_without_label_known_ts_is_refused(spark, flights, flights_settings):
    usecase = broken.with_labels(flights, lambda rows: broken.labels_spark(rows).drop("label_known_ts"))
    with pytest.raises(UseCaseError, match=r"labels.spark: returns no column \['label_known_ts'\]"):
        dry_run_usecase(spark, usecase, flights_settings)


# ---- label timing on real data ------------------------------------------------------------------------------------
def test_the_real_labels_are_known_when_they_say(spark, flights, lake):
    timing = check_label_timing(spark, lake, flights, FIRST, LAST)
    assert timing.dates == (date(2013, 1, 17), LAST) and timing.labels > 500 and timing.late == 0


def test_the_real_bike_labels_are_known_when_they_say(spark):
    first, last = date(2011, 4, 1), date(2011, 4, 10)
    lakehouse, settings = shared_lakehouse(spark, first, last)
    timing = check_label_timing(spark, lakehouse, usecase_of(settings), first, last)
    assert timing.labels == 2 * 24 and timing.late == 0  # the forecast hours of the last lag_days + 1 days


def test_a_label_rule_reading_the_next_day_is_refused_naming_how_many_and_one(spark, flights, lake):
    with pytest.raises(UseCaseError) as caught:
        check_label_timing(spark, lake, broken.with_labels(flights, broken.next_day_labels), FIRST, LAST)
    assert str(caught.value) == (
        "Use case 'flight_delay': labels.spark: label 'delayed' reads data published after its label_known_ts: "
        "20 of 220 labels known by 2013-01-17 change when bronze stops at 2013-01-17, e.g. year=2013, month=1, "
        "day=17, carrier=UA, flight=733, origin=EWR, label_known_ts=2013-01-17 12:12:00: 1 from all bronze, 0 from "
        "bronze up to 2013-01-17; a label may use only bronze dated up to its label_known_ts"
    )


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (broken.early_labels, "684 of 684 labels 'delayed' are known before their flight's prediction time"),
        (broken.late_labels, "684 of 684 labels 'delayed' are known after labels.lag_days=1 allows"),
    ],
)
def test_labels_known_before_the_prediction_or_after_the_lag_are_refused(spark, flights, lake, rule, problem):
    with pytest.raises(UseCaseError) as caught:
        check_label_timing(spark, lake, broken.with_labels(flights, rule), FIRST, LAST)
    assert caught.value.field_name == "labels.spark" and caught.value.problem.startswith(problem)
