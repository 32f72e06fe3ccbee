"""Model behaviour: restricted tuning within budget, reproducibility, lift over the baseline, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops.training.estimator import (
    TuningBudget,
    build_estimator,
    candidate_params,
    feature_columns,
    model_inputs,
    tune,
)
from mlops.training.evaluate import calibration_error, score_metrics
from mlops.training.train import fit_and_evaluate
from tests.unit._training import shared_training_set
from usecases.flight_delay import usecase
from usecases.flight_delay.model import SEARCH_SPACE

USECASE = usecase()
pytestmark = pytest.mark.spark
BUDGET = TuningBudget(trials=2, timeout_seconds=600)


@pytest.fixture(scope="module")
def training(spark):
    return shared_training_set(spark)


@pytest.fixture(scope="module")
def fitted(training):
    return fit_and_evaluate(training, BUDGET, seed=42)


def test_fit_and_evaluate_is_reproducible_with_the_same_seed(training, fitted):
    again = fit_and_evaluate(training, BUDGET, seed=42)
    assert again.evaluation.metrics() == fitted.evaluation.metrics()
    assert [t.params for t in again.tuning.trials] == [t.params for t in fitted.tuning.trials]


def test_model_beats_the_carrier_delay_rate_baseline_on_held_out_days(fitted):
    evaluation = fitted.evaluation
    assert evaluation.model.rows > 500
    assert evaluation.model.roc_auc > evaluation.baseline.roc_auc, evaluation.metrics()


def test_tuning_runs_at_most_the_budgeted_trials_from_the_search_space(fitted):
    assert len(fitted.tuning.trials) == BUDGET.trials
    for trial in fitted.tuning.trials:
        assert all(trial.params[k] in values for k, values in SEARCH_SPACE.items())
        assert 1 <= trial.n_iter <= 300


def test_tuning_stops_after_the_first_trial_when_the_time_budget_is_spent(training):
    result = tune(USECASE, training.part("train"), training.part("validation"), TuningBudget(8, 1e-9), seed=1)
    assert (len(result.trials), result.timed_out) == (1, True)


def test_candidate_params_are_a_seeded_order_of_distinct_points():
    first, again = candidate_params(SEARCH_SPACE, 16, seed=7), candidate_params(SEARCH_SPACE, 16, seed=7)
    assert first == again and len({tuple(p.values()) for p in first}) == 16
    assert candidate_params(SEARCH_SPACE, 50, seed=7) == first  # capped at the size of the space


def test_pipeline_scores_unseen_categories_and_missing_values():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(size=200) for c in feature_columns(USECASE)})
    for column in ("carrier", "origin", "dest"):
        frame[column] = rng.choice(["AA", "UA"], size=200)
    model = build_estimator(USECASE, {}, max_iter=5, seed=0).fit(model_inputs(frame, USECASE), rng.integers(0, 2, 200))
    odd = frame.head(2).assign(carrier=["ZZ", None], temp=[np.nan, np.nan])
    proba = model.predict_proba(model_inputs(odd, USECASE))
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_score_metrics_of_a_perfect_ranker():
    y = np.array([0, 0, 1, 1])
    metrics = score_metrics("binary", y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert (metrics.roc_auc, metrics.pr_auc, metrics.positive_rate) == (1.0, 1.0, 0.5)
    assert metrics.brier == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)


def test_calibration_error_is_zero_when_predictions_match_observed_rates():
    y = np.array([0, 1] * 50)
    assert calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.0)
    assert calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.4)


def test_feature_importance_covers_every_model_input(fitted):
    assert sorted(fitted.importance["feature"]) == sorted(feature_columns(USECASE))
