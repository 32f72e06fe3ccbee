"""Restricted tuning of a use case's estimator: its small fixed search space, a budget from config, fixed seeds.

Automated retraining should not wander: the search space is a few points around robust defaults, trials are
drawn from it in a seeded order, and tuning stops after `trials` fits or once `timeout_seconds` have
passed (at least one trial always runs). Each trial fits up to the model spec's `max_iter` boosting rounds on
the train split and picks its number of rounds where the validation loss is lowest (log loss for classifiers,
mean squared error for regression; early stopping on the time-based validation days, not on a random subset).
The final model is refit on train + validation with the best trial's parameters and rounds. With the same
data, seed and trial count the result is identical; only a timeout that cuts the trial list differently can
change it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from mlops.config import TrainingSettings

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from mlops.task_metrics import TaskType
    from mlops.usecase import UseCase

MODEL_FAMILIES: tuple[str, ...] = get_args(TrainingSettings.model_fields["model_family"].annotation)
# The early-stopping loss of each task type, as named in trial metrics (`trial_validation_<loss>`).
VALIDATION_LOSS = {"binary": "log_loss", "multiclass": "log_loss", "regression": "mse"}


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
    n_iter: int  # boosting rounds with the lowest validation loss
    validation_loss: float  # log loss (classifiers) or mean squared error (regression): `validation_loss`
    seconds: float


@dataclass(frozen=True)
class TuningResult:
    """Every trial run, and the best one."""

    trials: tuple[Trial, ...]
    timed_out: bool

    @property
    def best(self) -> Trial:
        """The trial with the lowest validation loss (first on ties)."""
        return min(self.trials, key=lambda t: t.validation_loss)


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


def _best_rounds(usecase: UseCase, fitted: Any, x_valid: pd.DataFrame, y_valid: np.ndarray) -> tuple[int, float]:
    """Boosting rounds with the lowest validation loss, and that loss (`validation_loss` of the task type).

    Per-round scores come from the model spec's `staged_scores`, else the final estimator's
    `staged_predict_proba` (classifiers) or `staged_predict` (regression). An estimator without staged
    prediction keeps the rounds it was fitted with (`ModelSpec.max_iter`), scored once.
    """
    import numpy as np

    task = usecase.model.task
    staged = _staged_scores(usecase, fitted, x_valid)
    if staged is None:
        return usecase.model.max_iter, validation_loss(task, y_valid, _scores(task, fitted, x_valid), _classes(fitted))
    classes = _classes(fitted)
    losses = [validation_loss(task, y_valid, scores, classes) for scores in staged]
    best = int(np.argmin(losses))
    return best + 1, losses[best]


def validation_loss(task: TaskType, y: Any, scores: Any, classes: Any = None) -> float:
    """The early-stopping loss: log loss for classifiers (binary: of P(positive class), multiclass: of the
    probability matrix whose columns follow `classes`), mean squared error for regression. Computed in
    numpy: one sklearn call per boosting round would cost more than the fit."""
    import numpy as np

    if task == "regression":
        residual = np.asarray(y, dtype="float64") - np.asarray(scores, dtype="float64")
        return float(np.mean(residual * residual))
    if task == "binary":
        y = np.asarray(y, dtype="float64")
        p = np.clip(np.asarray(scores, dtype="float64"), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    proba = np.asarray(scores, dtype="float64")
    column = {c: i for i, c in enumerate(classes)}
    index = np.array([column[v] for v in np.asarray(y).tolist()], dtype="int64")
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(index)), index], 1e-15, 1.0))))


def _staged_scores(usecase: UseCase, fitted: Any, x: pd.DataFrame) -> Iterator[Any] | None:
    """Per-round scores on `x` in the task's form (binary P(1), multiclass matrix, regression values), or None."""
    if usecase.model.staged_scores is not None:
        return usecase.model.staged_scores(fitted, x)
    final, features = (fitted[-1], fitted[:-1].transform(x)) if hasattr(fitted, "steps") else (fitted, x)
    task = usecase.model.task
    if task == "regression":
        return final.staged_predict(features) if hasattr(final, "staged_predict") else None
    if not hasattr(final, "staged_predict_proba"):
        return None
    staged = final.staged_predict_proba(features)
    return (proba[:, 1] for proba in staged) if task == "binary" else staged


def _classes(fitted: Any) -> tuple[Any, ...] | None:
    classes = getattr(fitted, "classes_", None)
    return None if classes is None else tuple(classes.tolist() if hasattr(classes, "tolist") else classes)


def _scores(task: TaskType, model: Any, inputs: pd.DataFrame) -> np.ndarray:
    if task == "regression":
        return model.predict(inputs)
    proba = model.predict_proba(inputs)
    return proba[:, 1] if task == "binary" else proba


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
        n_iter, loss = _best_rounds(usecase, pipeline, x_valid, y_valid)
        trials.append(Trial(params, n_iter, loss, time.monotonic() - begin))
    return TuningResult(tuple(trials), timed_out)


def fit_final(usecase: UseCase, frame: pd.DataFrame, best: Trial, seed: int) -> Pipeline:
    """Refit the best trial on `frame` (train + validation) with its early-stopped number of rounds."""
    estimator = build_estimator(usecase, best.params, max_iter=best.n_iter, seed=seed)
    return estimator.fit(model_inputs(frame, usecase), frame[usecase.labels.column])


def predict_scores(usecase: UseCase, model: Any, frame: pd.DataFrame) -> np.ndarray:
    """The model's scores of each row of `frame`: P(positive class) for binary, the (n, k) probability matrix
    (columns: `ModelSpec.classes`) for multiclass, predicted values for regression."""
    return _scores(usecase.model.task, model, model_inputs(frame, usecase))


def prediction_score(task: TaskType, scores: Any) -> np.ndarray:
    """One number per row, the prediction monitoring profiles: P(positive class), the predicted value, or the
    probability of the predicted class (multiclass)."""
    import numpy as np

    values = np.asarray(scores, dtype="float64")
    return values.max(axis=1) if task == "multiclass" else values


def pyfunc_scores(task: TaskType, output: Any) -> np.ndarray:
    """The task's scores in a logged model's pyfunc output (an array or a frame): P(positive class) from the
    (n, 2) `predict_proba` matrix, the (n, k) matrix itself for multiclass, the values for regression."""
    import numpy as np

    values = np.asarray(output.to_numpy() if hasattr(output, "to_numpy") else output, dtype="float64")
    if task == "binary":
        return values[:, -1] if values.ndim == 2 else values
    if task == "regression":
        return values.reshape(len(values), -1)[:, 0] if values.ndim == 2 else values
    return values
