"""Model training: point-in-time training sets, restricted tuning, evaluation, MLflow tracking and registry."""

from __future__ import annotations

from mlops.training.dataset import (
    TrainingDataError,
    TrainingSet,
    TrainingWindow,
    build_training_set,
    default_window_end,
    latest_entity_date,
)
from mlops.training.track import TRAINING_RUNS, RunIdentity
from mlops.training.train import AlreadyTrainedError, TrainingRequest, TrainingResult, fit_and_evaluate, train_model

__all__ = [
    "AlreadyTrainedError",
    "TRAINING_RUNS",
    "RunIdentity",
    "TrainingDataError",
    "TrainingRequest",
    "TrainingResult",
    "TrainingSet",
    "TrainingWindow",
    "build_training_set",
    "default_window_end",
    "latest_entity_date",
    "fit_and_evaluate",
    "train_model",
]
