"""The model: a gradient-boosted classifier of P(inactive), its search space and the business baseline.

The baseline is what a team would use without a model: the customer's share of inactive days over the last 7
published days, falling back to the last 28 days, then to the training rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops.usecase import ModelSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

SEARCH_SPACE: dict[str, tuple[Any, ...]] = {
    "learning_rate": (0.05, 0.1),
    "max_leaf_nodes": (7, 15),
    "min_samples_leaf": (20, 50),
    "l2_regularization": (0.0, 1.0),
}
BASELINE_FEATURES = ("inactive_share_7d", "inactive_share_28d")
# Types outside skops' default trust list that the fitted model holds, named so loading stays safe.
SKOPS_TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


def build_classifier(
    params: dict[str, Any], *, max_iter: int, seed: int, features: Sequence[str], categorical: Sequence[str]
) -> HistGradientBoostingClassifier:
    """A HistGradientBoostingClassifier over the numeric inputs (missing values go to the learnt side of a split)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=max_iter, early_stopping=False, random_state=seed, **params)


def trailing_inactive_rate(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """P(inactive): the 7-day inactive share, else the 28-day one, else the training rate."""
    from .labels import LABEL

    score = test[BASELINE_FEATURES[0]].astype("float64")
    for fallback in BASELINE_FEATURES[1:]:
        score = score.fillna(test[fallback].astype("float64"))
    return score.fillna(float(train[LABEL].mean())).to_numpy()


MODEL = ModelSpec(
    task="binary",
    build_estimator=build_classifier,
    search_space=SEARCH_SPACE,
    categorical=(),
    baseline=trailing_inactive_rate,
    baseline_description="the customer's share of inactive days over the last 7 days",
    max_iter=200,
    skops_trusted_types=SKOPS_TRUSTED_TYPES,
)
