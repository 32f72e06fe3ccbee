"""The flight-delay model: a gradient-boosted classifier of P(delayed), its search space and business baseline.

The baseline is what a dispatcher could do without a model: score each flight by its carrier's trailing
7-day delay rate as known at prediction time (`carrier_delay_rate_7d`), falling back to the training
positive rate when the carrier has no recent outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops.usecase import ModelSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

CATEGORICAL = ("carrier", "origin", "dest")
SEARCH_SPACE: dict[str, tuple[Any, ...]] = {
    "learning_rate": (0.05, 0.1),
    "max_leaf_nodes": (15, 31),
    "min_samples_leaf": (20, 80),
    "l2_regularization": (0.0, 1.0),
}
BASELINE_FEATURE = "carrier_delay_rate_7d"
# Types outside skops' default trust list that the fitted pipeline holds, named so loading stays safe:
# the fitted trees, and the passthrough step (partial(check_array)) of the classifier's internal
# categorical preprocessor.
SKOPS_TRUSTED_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
)


def build_pipeline(
    params: dict[str, Any], *, max_iter: int, seed: int, features: Sequence[str], categorical: Sequence[str]
) -> Pipeline:
    """Ordinal-encode the categoricals (unknown -> missing), then a HistGradientBoostingClassifier."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, dtype=np.float64
    )
    numeric = [c for c in features if c not in categorical]
    columns = ColumnTransformer([("categorical", encoder, list(categorical)), ("numeric", "passthrough", numeric)])
    classifier = HistGradientBoostingClassifier(
        max_iter=max_iter,
        early_stopping=False,
        categorical_features=list(range(len(categorical))),  # the transformer puts categoricals first
        random_state=seed,
        **params,
    )
    return Pipeline([("columns", columns), ("classifier", classifier)])


def baseline_scores(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """The heuristic score: trailing carrier delay rate at prediction time, else the training delay rate."""
    fallback = float(train["delayed"].mean())
    return test[BASELINE_FEATURE].astype("float64").fillna(fallback).to_numpy()


MODEL = ModelSpec(
    task="binary",
    build_estimator=build_pipeline,
    search_space=SEARCH_SPACE,
    categorical=CATEGORICAL,
    baseline=baseline_scores,
    baseline_description="the carrier's trailing 7-day delay rate at prediction time (carrier_delay_rate_7d)",
    max_iter=300,
    skops_trusted_types=SKOPS_TRUSTED_TYPES,
)
