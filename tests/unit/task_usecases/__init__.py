"""Test use cases of the other task types, built from the flights use case by `dataclasses.replace`.

Same data, entities and features as `flight_delay`; only the label and the model differ:
- `delay_minutes` (regression): the arrival delay in minutes, clipped to [-60, 240] (no arrival: 240);
- `delay_class` (multiclass): 0 on time (<= 15 min late), 1 late (<= 60 min), 2 very late or no arrival.

Each module of this package is a use-case package the loader can import (`usecase()`); `task_settings`
points a copy of the staging settings at one of them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from mlops.usecase import LabelSpec, ModelSpec, UseCase

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops.config import Settings

MAX_DELAY, MIN_DELAY = 240.0, -60.0
CLASSES = (0, 1, 2)
TRUSTED = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
)


def _minutes_pandas(arr_delay: pd.Series) -> pd.Series:
    return arr_delay.fillna(MAX_DELAY).clip(MIN_DELAY, MAX_DELAY).astype("float64")


def _class_pandas(arr_delay: pd.Series) -> pd.Series:
    import numpy as np
    import pandas as pd

    late = arr_delay.fillna(MAX_DELAY)
    return pd.Series(np.select([late <= 15, late <= 60], [0, 1], 2), index=arr_delay.index, dtype="int64")


def _label_spec(column: str, kind: str) -> LabelSpec:
    """The flights label rule (keys, when known), with `column` computed from the arrival delay instead."""
    from usecases.flight_delay.features import FLIGHT_KEY
    from usecases.flight_delay.labels import LABELS

    def spark(flights: Any) -> Any:
        from pyspark.sql import functions as F

        delay = F.coalesce(F.col("arr_delay").cast("double"), F.lit(MAX_DELAY))
        if kind == "regression":
            value = F.least(F.greatest(delay, F.lit(MIN_DELAY)), F.lit(MAX_DELAY))
        else:
            value = F.when(delay <= 15, 0).when(delay <= 60, 1).otherwise(2).cast("long")
        values = flights.select(*FLIGHT_KEY, value.alias(column)).dropDuplicates(list(FLIGHT_KEY))
        return LABELS.spark(flights).drop(LABELS.column).join(values, list(FLIGHT_KEY))

    def pandas(flights: pd.DataFrame) -> pd.DataFrame:
        out = LABELS.pandas(flights).drop(columns=[LABELS.column])
        convert = _minutes_pandas if kind == "regression" else _class_pandas
        return out.assign(**{column: convert(flights["arr_delay"]).to_numpy()})

    return dataclasses.replace(LABELS, column=column, spark=spark, pandas=pandas, description=f"{column} (test)")


def build_regressor(params: dict[str, Any], *, max_iter: int, seed: int, features: Any, categorical: Any) -> Any:
    """The flights pipeline with a HistGradientBoostingRegressor."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, dtype=np.float64
    )
    numeric = [c for c in features if c not in categorical]
    columns = ColumnTransformer([("categorical", encoder, list(categorical)), ("numeric", "passthrough", numeric)])
    regressor = HistGradientBoostingRegressor(
        max_iter=max_iter,
        early_stopping=False,
        categorical_features=list(range(len(categorical))),
        random_state=seed,
        **params,
    )
    return Pipeline([("columns", columns), ("regressor", regressor)])


def carrier_mean_delay(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Regression baseline: the carrier's mean delay in the training rows, else the overall mean."""
    label = "delay_minutes"
    means = train.groupby("carrier")[label].mean()
    return test["carrier"].map(means).fillna(train[label].mean()).to_numpy(dtype="float64")


def class_prior(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Multiclass baseline: the training class frequencies, the same for every row."""
    import numpy as np

    counts = train["delay_class"].value_counts().reindex(list(CLASSES), fill_value=0).to_numpy(dtype="float64")
    return np.tile(counts / counts.sum(), (len(test), 1))


def regression_usecase() -> UseCase:
    """Arrival delay in minutes, from the flights data."""
    from usecases.flight_delay import usecase

    flights = usecase()
    model = ModelSpec(
        task="regression",
        build_estimator=build_regressor,
        search_space={"learning_rate": (0.05, 0.1), "max_leaf_nodes": (15, 31)},
        categorical=flights.model.categorical,
        baseline=carrier_mean_delay,
        baseline_description="the carrier's mean arrival delay in the training rows",
        max_iter=120,
        skops_trusted_types=TRUSTED,
    )
    labels = _label_spec("delay_minutes", "regression")
    return dataclasses.replace(
        flights, name="delay_minutes", description="Arrival delay (test)", labels=labels, model=model
    )


def multiclass_usecase() -> UseCase:
    """On time / late / very late, from the flights data, with the flights classifier."""
    from usecases.flight_delay import usecase

    flights = usecase()
    model = dataclasses.replace(
        flights.model,
        task="multiclass",
        baseline=class_prior,
        baseline_description="the training class frequencies",
        max_iter=120,
        classes=CLASSES,
        search_space={"learning_rate": (0.05, 0.1), "max_leaf_nodes": (15, 31)},
    )
    labels = _label_spec("delay_class", "multiclass")
    return dataclasses.replace(
        flights, name="delay_class", description="Delay class (test)", labels=labels, model=model
    )


def task_settings(base: Settings, name: str) -> Settings:
    """`base` (a flights settings object) for test use case `name` (a module of this package), with its own
    MLflow experiment and model."""
    registry = base.usecases
    packages = {**registry.packages, name: f"{__name__}.{name}"}
    update = {"packages": packages, "enabled": (*registry.enabled, name)}
    flow = base.mlflow.model_copy(update={"experiment_name": f"{name}_test", "model_name": f"{name}_test"})
    return base.model_copy(update={"usecase": name, "usecases": registry.model_copy(update=update), "mlflow": flow})
