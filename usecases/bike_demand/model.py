"""The bike-demand model: a gradient-boosted regressor of hourly riders, its search space and business baseline.

The baseline is the seasonal naive forecast an operator would use without a model: the riders of the same hour
on the same weekday one week earlier (`riders_week_ago`), falling back to the hour's mean over the last 7
days, then to the training mean, when that hour was not recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops.usecase import ModelSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

# Counts: Poisson deviance fits the multiplicative hour x day-level structure; squared error is the RMSE's own.
SEARCH_SPACE: dict[str, tuple[Any, ...]] = {
    "loss": ("poisson", "squared_error"),
    "learning_rate": (0.05, 0.1),
    "max_leaf_nodes": (15, 31),
    "min_samples_leaf": (10, 30),
}
BASELINE_FEATURES = ("riders_week_ago", "riders_hour_mean_7d")
SKOPS_TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


def build_regressor(
    params: dict[str, Any], *, max_iter: int, seed: int, features: Sequence[str], categorical: Sequence[str]
) -> HistGradientBoostingRegressor:
    """A HistGradientBoostingRegressor over the numeric inputs (missing values go to the learnt side of a split)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=max_iter, early_stopping=False, random_state=seed, **params)


def seasonal_naive(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Riders of the same weekday and hour a week earlier, else the hour's 7-day mean, else the training mean."""
    forecast = test[BASELINE_FEATURES[0]].astype("float64")
    for fallback in BASELINE_FEATURES[1:]:
        forecast = forecast.fillna(test[fallback].astype("float64"))
    return forecast.fillna(float(train["riders"].mean())).to_numpy()


MODEL = ModelSpec(
    task="regression",
    build_estimator=build_regressor,
    search_space=SEARCH_SPACE,
    categorical=(),
    baseline=seasonal_naive,
    baseline_description="seasonal naive: riders of the same hour on the same weekday one week earlier",
    max_iter=300,
    skops_trusted_types=SKOPS_TRUSTED_TYPES,
)
