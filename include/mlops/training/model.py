"""Restricted tuning of a use case's estimator: its small fixed search space, a budget from config, fixed seeds.

Automated retraining should not wander: the search space is a few points around robust defaults, trials are
drawn from it in a seeded order, and tuning stops after `trials` fits or once `timeout_seconds` have
passed (at least one trial always runs). Each trial fits up to the model spec's `max_iter` boosting rounds on the train
split and picks its number of rounds where the validation log loss is lowest (early stopping on the
time-based validation days, not on a random subset). The final model is refit on train + validation
with the best trial's parameters and rounds. With the same data, seed and trial count the result is
identical; only a timeout that cuts the trial list differently can change it.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from mlops.config import TrainingSettings

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from mlops.usecase import UseCase

MODEL_FAMILIES: tuple[str, ...] = get_args(TrainingSettings.model_fields["model_family"].annotation)


@dataclass(frozen=True)
class TuningBudget:
    """How much tuning a run may do."""

    trials: int
    timeout_seconds: float

    def __post_init__(self) -> None:
        if self.trials < 1 or self.timeout_seconds <= 0:
            raise ValueError(f"Tuning budget needs trials >= 1 and timeout_seconds > 0, got {self}")


@dataclass(frozen=True)
class Trial:
    """One evaluated point of the search space."""

    params: dict[str, Any]
    n_iter: int  # boosting rounds with the lowest validation log loss
    validation_log_loss: float
    seconds: float


@dataclass(frozen=True)
class TuningResult:
    """Every trial run, and the best one."""

    trials: tuple[Trial, ...]
    timed_out: bool

    @property
    def best(self) -> Trial:
        """The trial with the lowest validation log loss (first on ties)."""
        return min(self.trials, key=lambda t: t.validation_log_loss)


def feature_columns(usecase: UseCase) -> list[str]:
    """Model inputs of the use case, in catalog order."""
    return list(usecase.features.model_features())


def input_types(usecase: UseCase) -> dict[str, str]:
    """Signature type of each model input: `string` for the model spec's categoricals, else `double`."""
    return {c: "string" if c in usecase.model.categorical else "double" for c in feature_columns(usecase)}


def model_inputs(frame: pd.DataFrame, usecase: UseCase) -> pd.DataFrame:
    """The model's input columns: categoricals as strings (None when missing), everything else float64.

    Casting numbers to float keeps the logged signature stable when a batch happens to have no nulls.
    """
    columns = feature_columns(usecase)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"Model inputs lack columns {missing}; got {list(frame.columns)}")
    return model_input_frame(frame, columns, input_types(usecase))


def model_input_frame(frame: pd.DataFrame, columns: list[str], types: dict[str, str]) -> pd.DataFrame:
    """`columns` of `frame` typed as a model signature says: `string` columns hold str or None, the rest float64.

    Training (`model_inputs`) and both scoring engines convert through here, so the model sees the same values.
    """
    out = frame[columns].copy()
    for column in columns:
        if types.get(column) == "string":
            out[column] = out[column].astype(object).where(out[column].notna(), None)
        else:
            out[column] = out[column].astype("float64")
    return out


def build_estimator(usecase: UseCase, params: dict[str, Any], *, max_iter: int, seed: int) -> Pipeline:
    """The use case's unfitted estimator for one point of its search space."""
    spec = usecase.model
    return spec.build_estimator(
        params, max_iter=max_iter, seed=seed, features=feature_columns(usecase), categorical=spec.categorical
    )


def candidate_params(search_space: dict[str, tuple[Any, ...]], trials: int, seed: int) -> list[dict[str, Any]]:
    """The first `trials` points of the search space in a seeded order."""
    import numpy as np

    space = dict(search_space)
    grid = [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]
    order = np.random.default_rng(seed).permutation(len(grid))
    return [grid[i] for i in order[: min(trials, len(grid))]]


def _best_rounds(pipeline: Pipeline, x_valid: pd.DataFrame, y_valid: np.ndarray) -> tuple[int, float]:
    """Boosting rounds with the lowest validation log loss (computed in numpy: one sklearn call per
    round would cost more than the fit)."""
    import numpy as np

    features = pipeline[:-1].transform(x_valid)
    y = np.asarray(y_valid, dtype="float64")
    losses = []
    for proba in pipeline[-1].staged_predict_proba(features):
        p = np.clip(proba[:, 1], 1e-15, 1 - 1e-15)
        losses.append(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))))
    best = int(np.argmin(losses))
    return best + 1, losses[best]


def tune(
    usecase: UseCase, train: pd.DataFrame, validation: pd.DataFrame, budget: TuningBudget, seed: int
) -> TuningResult:
    """Fit each candidate on `train`, score it on `validation`, within the budget."""
    label = usecase.labels.column
    x_train, y_train = model_inputs(train, usecase), train[label].to_numpy()
    x_valid, y_valid = model_inputs(validation, usecase), validation[label].to_numpy()
    started, trials, timed_out = time.monotonic(), [], False
    for params in candidate_params(dict(usecase.model.search_space), budget.trials, seed):
        if trials and time.monotonic() - started >= budget.timeout_seconds:
            timed_out = True
            break
        begin = time.monotonic()
        pipeline = build_estimator(usecase, params, max_iter=usecase.model.max_iter, seed=seed).fit(x_train, y_train)
        n_iter, loss = _best_rounds(pipeline, x_valid, y_valid)
        trials.append(Trial(params, n_iter, loss, time.monotonic() - begin))
    return TuningResult(tuple(trials), timed_out)


def fit_final(usecase: UseCase, frame: pd.DataFrame, best: Trial, seed: int) -> Pipeline:
    """Refit the best trial on `frame` (train + validation) with its early-stopped number of rounds."""
    estimator = build_estimator(usecase, best.params, max_iter=best.n_iter, seed=seed)
    return estimator.fit(model_inputs(frame, usecase), frame[usecase.labels.column])


def predict_proba(usecase: UseCase, model: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """P(positive class) for each row of `frame`."""
    return model.predict_proba(model_inputs(frame, usecase))[:, 1]
