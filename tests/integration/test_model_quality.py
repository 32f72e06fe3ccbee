"""Model behaviour on held-out months: trained on Jan-Feb 2013, the model beats the baseline on March."""

from __future__ import annotations

from datetime import date

import pytest

from mlops.config import load_settings
from mlops.features.refresh import compute_feature_range
from mlops.lakehouse import Lakehouse
from mlops.training.dataset import TrainingWindow, build_training_set
from mlops.training.estimator import TuningBudget
from mlops.training.train import fit_and_evaluate
from tests.unit._bronze import reference_frames, write_bronze
from usecases.flight_delay.features import FEATURE_TABLES

pytestmark = [pytest.mark.slow, pytest.mark.spark]
FIRST, LAST = date(2013, 1, 1), date(2013, 3, 31)
HELD_OUT_DAYS = 31  # March


@pytest.fixture(scope="module")
def evaluation(spark, tmp_path_factory):
    lakehouse = Lakehouse(str(tmp_path_factory.mktemp("quality") / "lakehouse"))
    settings = load_settings("staging")
    write_bronze(lakehouse, reference_frames(FIRST, LAST, ("EWR",)))
    for table in FEATURE_TABLES:
        rows = compute_feature_range(spark, lakehouse, settings, table.name, FIRST, LAST)
        lakehouse.write_spark(rows, table.name, mode="append", partition_by=[table.date_column])
    window = TrainingWindow(LAST, (LAST - FIRST).days + 1, validation_days=14, test_days=HELD_OUT_DAYS)
    training = build_training_set(spark, lakehouse, settings, window)
    return fit_and_evaluate(training, TuningBudget(trials=2, timeout_seconds=600), seed=42).evaluation


def test_model_beats_baseline_roc_auc_on_a_held_out_month(evaluation):
    assert evaluation.model.rows > 5000, evaluation.metrics()
    assert evaluation.model.roc_auc > evaluation.baseline.roc_auc + 0.02, evaluation.metrics()


def test_model_log_loss_beats_baseline_on_a_held_out_month(evaluation):
    assert evaluation.model.log_loss < evaluation.baseline.log_loss, evaluation.metrics()
