"""Batch inference: pin the model, stage the PIT scoring set, score with Spark or Arrow, publish append-only."""

from __future__ import annotations

from mlops.inference.engines import (
    ENGINES,
    STAGED_PREDICTIONS,
    ScoreRequest,
    ScoreResult,
    SignatureMismatchError,
    choose_engine,
    score,
)
from mlops.inference.outputs import PredictionOutput
from mlops.inference.pinning import CHAMPION, CHAMPION_OF_THE_TIME, NoModelError, ScoringModel, resolve_model
from mlops.inference.publish import (
    INFERENCE_LOG,
    INFERENCE_RUNS,
    PREDICTIONS,
    already_published,
    prediction_output,
    publish,
    record_run,
)
from mlops.inference.scoring_set import (
    SCORING_SET,
    FeaturesNotReadyError,
    ScoringSet,
    build_scoring_set,
    check_features_ready,
)

__all__ = [
    "CHAMPION",
    "CHAMPION_OF_THE_TIME",
    "ENGINES",
    "INFERENCE_LOG",
    "INFERENCE_RUNS",
    "PREDICTIONS",
    "SCORING_SET",
    "STAGED_PREDICTIONS",
    "FeaturesNotReadyError",
    "NoModelError",
    "PredictionOutput",
    "ScoreRequest",
    "ScoreResult",
    "ScoringModel",
    "ScoringSet",
    "SignatureMismatchError",
    "already_published",
    "build_scoring_set",
    "check_features_ready",
    "choose_engine",
    "prediction_output",
    "publish",
    "record_run",
    "resolve_model",
    "score",
]
