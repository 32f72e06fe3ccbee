"""The features by their Spark jobs: hand-checked trailing values, and the leakage test (data published after
the prediction time never changes the features at it)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops.features.pit import max_ages, point_in_time_join, prediction_entities
from mlops.usecase import usecase_of

from ..features import ACTIVITY_7D, ACTIVITY_28D, ENTITY_KEY, FEATURE_TABLES
from ._lake import FIRST, activity_frame, build_lakehouse

pytestmark = pytest.mark.spark
DAY = date(2024, 1, 12)


def test_trailing_values_are_those_of_the_published_days(lake):
    lakehouse, settings = lake
    activity = activity_frame(settings, FIRST, DAY)
    week = activity.loc[[DAY - timedelta(days=i) for i in range(7)]]
    expected = (week["sessions"] == 0).groupby("customer_id").mean()
    rows = lakehouse.read_pandas(ACTIVITY_7D.name)
    rows = rows[rows["feature_date"] == DAY].set_index("customer_id")
    pd.testing.assert_series_equal(rows["inactive_share_7d"].sort_index(), expected, check_names=False)
    assert (rows["feature_ts"] == pd.Timestamp(DAY + timedelta(days=1), tz="UTC")).all()
    long = lakehouse.read_pandas(ACTIVITY_28D.name)
    tickets = activity.loc[FIRST:DAY, "tickets"].groupby("customer_id").sum()
    long = long[long["feature_date"] == DAY].set_index("customer_id")["tickets_28d"].sort_index()
    assert (long.to_numpy() == tickets.to_numpy()).all()


def _pit(spark, lakehouse, settings, day: date) -> pd.DataFrame:
    usecase = usecase_of(settings)
    entities = prediction_entities(spark, lakehouse, usecase, day, day)
    tables = usecase.features.tables
    result = point_in_time_join(spark, entities, lakehouse, tables, max_age=max_ages(settings, tables))
    frame = result.frame.toPandas().sort_values(list(ENTITY_KEY)).reset_index(drop=True)
    result.unpersist()
    return frame


def test_the_pit_join_gives_each_customer_day_the_day_before_it(spark, lake):
    lakehouse, settings = lake
    joined = _pit(spark, lakehouse, settings, DAY).set_index("customer_id")
    yesterday = activity_frame(settings, DAY - timedelta(days=1), DAY).loc[DAY - timedelta(days=1)]
    expected = (yesterday["sessions"] == 0).astype("int64").sort_index()
    assert (joined["inactive_last_1d"].astype("int64").sort_index().to_numpy() == expected.to_numpy()).all()


def _changed_from(day: date):
    """Every activity row of `day` and later (published after the prediction time of `day`) changed."""

    def mutate(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        activity = frames["activity"].copy()
        later = activity["date"] >= day
        activity.loc[later, "sessions"] = 0
        activity.loc[later, "minutes"] = 0.0
        activity.loc[later, "tickets"] += 5
        return {**frames, "activity": activity}

    return mutate


def test_features_at_the_prediction_time_ignore_data_published_after_it(spark, lake, tmp_path):
    before, settings = lake
    after, _ = build_lakehouse(spark, tmp_path, FIRST, DAY + timedelta(days=1), mutate=_changed_from(DAY))
    joined = [_pit(spark, lake_, settings, DAY) for lake_ in (before, after)]
    assert len(joined[0]) == settings.data.customers and joined[0]["inactive_share_7d"].notna().all()
    pd.testing.assert_frame_equal(joined[0], joined[1])
    # The change is real: the snapshots of the changed days did move.
    last = DAY + timedelta(days=1)
    for table in FEATURE_TABLES[1:]:
        late = [lk.read_pandas(table.name) for lk in (before, after)]
        late = [frame[frame["feature_date"].between(DAY, last)] for frame in late]
        feature = table.joined_features[1].name
        ordered = [frame.sort_values(list(table.keys))[feature].to_numpy() for frame in late]
        assert not np.array_equal(ordered[0], ordered[1]), table.name
