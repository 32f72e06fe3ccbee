"""compute_feature_range: one Spark job over several logical days gives the union of the per-day jobs."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from mlops.config import load_settings
from mlops.features.refresh import compute_feature_range, compute_feature_table
from tests.unit._bronze import reference_frames, write_bronze
from usecases.flight_delay.features import FEATURE_TABLES, ORIGIN_STATS

pytestmark = pytest.mark.spark
FIRST, LAST = date(2013, 1, 2), date(2013, 1, 4)


@pytest.fixture(scope="module")
def real_bronze(tmp_path_factory):
    """Bronze EWR flights and weather of 2013-01-01 .. 2013-01-04, and all planes."""
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse(str(tmp_path_factory.mktemp("range") / "lakehouse"))
    write_bronze(lakehouse, reference_frames(FIRST - timedelta(days=1), LAST, ("EWR",)))
    return lakehouse


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("table", FEATURE_TABLES, ids=lambda t: t.short_name)
def test_compute_feature_range_equals_union_of_days(spark, real_bronze, table):
    settings = load_settings("staging")
    keys = [*table.keys, table.date_column]
    days = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    per_day = [compute_feature_table(spark, real_bronze, settings, table.name, d).toPandas() for d in days]
    want = _sorted(pd.concat(per_day, ignore_index=True), keys)
    got = _sorted(compute_feature_range(spark, real_bronze, settings, table.name, FIRST, LAST).toPandas(), keys)
    assert set(got[table.date_column]) == set(days)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def test_compute_feature_range_rejects_first_after_last(spark, real_bronze):
    with pytest.raises(ValueError, match="first 2013-01-04 is after last 2013-01-02"):
        compute_feature_range(spark, real_bronze, load_settings("staging"), ORIGIN_STATS.name, LAST, FIRST)
