"""The label rule: Spark and pandas agree, and a label is used only once its lag has passed."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops.training.dataset import TrainingWindow, labelled_entities
from mlops.usecase import usecase_of

from ..features import ENTITY_KEY
from ..labels import LABEL
from ._lake import LAST

pytestmark = pytest.mark.spark


def test_spark_and_pandas_give_the_same_labels(spark, lake):
    lakehouse, settings = lake
    rules = usecase_of(settings).labels
    bronze = lakehouse.read_pandas(rules.source)
    by_pandas = rules.pandas(bronze).sort_values(list(ENTITY_KEY)).reset_index(drop=True)
    by_spark = rules.spark(lakehouse.read_spark(spark, rules.source)).toPandas()
    by_spark = by_spark.sort_values(list(ENTITY_KEY)).reset_index(drop=True)
    assert (by_pandas[LABEL].to_numpy() == by_spark[LABEL].to_numpy()).all()
    known = pd.to_datetime(by_spark["label_known_ts"]).dt.tz_localize("UTC")
    assert (known == by_pandas["label_known_ts"]).all()
    assert 0.1 < by_pandas[LABEL].mean() < 0.7


@pytest.mark.parametrize(("lag", "unknown_days"), [(0, 1), (1, 0)])
def test_labels_are_not_known_before_their_lag(spark, lake, lag, unknown_days):
    """Cutoff 00:00 UTC after the window's last day + lag: with no lag, the last day's labels are not final yet
    (they are at 00:00 UTC two days after it); the use case's lag of one day makes them all known."""
    lakehouse, settings = lake
    usecase = usecase_of(settings)
    assert usecase.labels.lag_days == 1
    window = TrainingWindow(LAST, 3, 1, 1, label_lag_days=lag)
    rows, unlabelled = labelled_entities(spark, lakehouse, usecase, window)
    customers = settings.data.customers
    assert (rows.count(), unlabelled) == (customers * (3 - unknown_days), customers * unknown_days)
