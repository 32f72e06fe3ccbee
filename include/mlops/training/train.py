"""The training pipeline: PIT training set, checks, restricted tuning, evaluation, MLflow run, registration.

Every check on the data runs before an MLflow run is opened, so a refused training set leaves no run and
no model version behind; a failure after the run started marks the run FAILED and registers nothing,
since registration is the run's last MLflow step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import NothingToDo
from mlops.task_metrics import primary_metric
from mlops.training.dataset import (
    TrainingRequestError,
    TrainingSet,
    TrainingWindow,
    build_training_set,
    check_training_set,
    default_window_end,
)
from mlops.training.estimator import MODEL_FAMILIES, TuningBudget, TuningResult, fit_final, predict_scores, tune
from mlops.training.fingerprint import FINGERPRINT_TAG, find_fingerprinted, training_fingerprint
from mlops.training.track import RunIdentity

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from pyspark.sql import SparkSession
    from sklearn.pipeline import Pipeline

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.task_metrics import TaskType
    from mlops.training.evaluate import Evaluation

log = logging.getLogger(__name__)

# Test metrics in a run's summary (XCom, the model-registered asset event), then baseline and lift of the primary.
SUMMARY_METRICS = {
    "binary": ("roc_auc", "pr_auc", "log_loss", "brier"),
    "multiclass": ("macro_f1", "log_loss", "accuracy"),
    "regression": ("rmse", "mae", "r2"),
}


class AlreadyTrainedError(NothingToDo):
    """A registered version was trained on the same data, code and settings, and CD has decided it."""


@dataclass(frozen=True)
class TrainingRequest:
    """One run's choices; None means the environment's config value."""

    window_end: date
    window_days: int | None = None
    tuning_trials: int | None = None
    tuning_timeout_seconds: float | None = None
    model_family: str | None = None
    who: RunIdentity = field(default_factory=RunIdentity)

    def budget(self, settings: Settings) -> TuningBudget:
        """The tuning budget: the request's values, else the config's."""
        cfg = settings.training
        return TuningBudget(
            self.tuning_trials or cfg.tuning_trials, self.tuning_timeout_seconds or cfg.tuning_timeout_seconds
        )

    def family(self, settings: Settings) -> str:
        """The model family, validated against the supported ones."""
        family = self.model_family or settings.training.model_family
        if family not in MODEL_FAMILIES:
            raise TrainingRequestError(f"Unknown model family {family!r}; supported: {', '.join(MODEL_FAMILIES)}")
        return family


@dataclass(frozen=True)
class FittedModel:
    """A tuned model evaluated on the held-out days, before anything is logged."""

    model: Pipeline
    tuning: TuningResult
    evaluation: Evaluation
    test_scores: dict[str, np.ndarray]
    importance: pd.DataFrame
    seconds: float


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced: the registered version and its key metrics."""

    model_name: str
    version: str
    run_id: str
    model_uri: str
    window: TrainingWindow
    rows: dict[str, int]
    metrics: dict[str, float]
    task: TaskType

    def summary(self) -> dict[str, Any]:
        """Small JSON-scalar dict for XCom and the model-registered asset event (binary: test ROC AUC, PR AUC,
        log loss, Brier, baseline ROC AUC, ROC AUC lift)."""
        primary = primary_metric(self.task).name
        keys = (*(f"test_{m}" for m in SUMMARY_METRICS[self.task]), f"baseline_{primary}", f"{primary}_lift")
        return {
            "model_name": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "window": f"{self.window.first}..{self.window.end}",
            "train_rows": self.rows["train"],
            **{k: round(self.metrics[k], 6) for k in keys},
        }


def fit_and_evaluate(training: TrainingSet, budget: TuningBudget, seed: int, n_threads: int | None = 1) -> FittedModel:
    """Tune on train/validation, refit on both, evaluate model and baseline on the test days (no MLflow).

    `n_threads` caps OpenMP threads while fitting (None: library default, every core).
    """
    import sklearn.ensemble  # noqa: F401  (load its OpenMP runtime first: limits apply to loaded libraries only)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return _fit_and_evaluate(training, budget, seed)


def _fit_and_evaluate(training: TrainingSet, budget: TuningBudget, seed: int) -> FittedModel:
    from mlops.training.estimator import model_inputs
    from mlops.training.evaluate import evaluate, feature_importance

    started, usecase = time.monotonic(), training.usecase
    task = usecase.model.task
    train, validation, test = (training.part(s) for s in ("train", "validation", "test"))
    tuning = tune(usecase, train, validation, budget, seed)
    model = fit_final(usecase, training.frame[training.frame["split"] != "test"], tuning.best, seed)
    y = test[training.label].to_numpy()
    scores = {"model": predict_scores(usecase, model, test), "baseline": usecase.model.baseline(test, train)}
    evaluation = evaluate(task, y, scores["model"], scores["baseline"], usecase.model.classes)
    inputs = model_inputs(test, usecase).reset_index(drop=True)
    importance = feature_importance(model, inputs, y, task=task, seed=seed)
    return FittedModel(model, tuning, evaluation, scores, importance, time.monotonic() - started)


def _optional_int(value: Any, name: str) -> int | None:
    if value is None or not str(value).strip():
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise TrainingRequestError(f"{name} must be an integer, got {value!r}") from None


def request_from_params(
    lakehouse: Lakehouse,
    settings: Settings,
    who: RunIdentity,
    *,
    window_end: Any = None,
    window_days: Any = None,
    tuning_trials: Any = None,
    tuning_timeout_seconds: Any = None,
    model_family: Any = None,
    data_interval_end: Any = None,
) -> TrainingRequest:
    """A validated TrainingRequest from a run's parameters (strings or numbers; empty: the config's value).

    Without `window_end` the window ends the day before `data_interval_end`, capped at the latest date
    with complete labels in the use case's entity table.

    Raises:
        TrainingRequestError: a bad date or number, a window with no training days, an unknown family.
        TrainingDataError: no window end can be chosen (no entity table, no rows).
    """
    from mlops.usecase import usecase_of

    if window_end is not None and str(window_end).strip():
        try:
            end = date.fromisoformat(str(window_end).strip()[:10])
        except ValueError:
            raise TrainingRequestError(f"window_end must be a date YYYY-MM-DD, got {window_end!r}") from None
    else:
        end = default_window_end(lakehouse, usecase_of(settings), data_interval_end)
    request = TrainingRequest(
        window_end=end,
        window_days=_optional_int(window_days, "window_days"),
        tuning_trials=_optional_int(tuning_trials, "tuning_trials"),
        tuning_timeout_seconds=_optional_int(tuning_timeout_seconds, "tuning_timeout_seconds"),
        model_family=str(model_family).strip() if model_family else None,
        who=who,
    )
    TrainingWindow.from_settings(settings, request.window_end, request.window_days)
    request.budget(settings), request.family(settings)
    return request


def train_requested(
    spark: Callable[[], SparkSession], lakehouse: Lakehouse, settings: Settings, request: TrainingRequest
) -> dict[str, Any]:
    """`train_model` for a request checked by `request_from_params`; Spark starts only now. Returns the summary."""
    log.info("Training %s in env %s: %s", settings.mlflow.model_name, settings.env, request)
    result = train_model(spark(), lakehouse, settings, request)
    log.info("Model %s version %s (run %s)", result.model_name, result.version, result.run_id)
    return result.summary()


def train_model(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, request: TrainingRequest
) -> TrainingResult:
    """Build the PIT training set, tune, evaluate, log to MLflow and register a new model version.

    Nothing is fitted when a registered version carries the same training fingerprint (same rows, window,
    settings and code, `mlops.training.fingerprint`): while CD has not decided that version, its result is
    returned (so the model-registered event lets CD finish it); once decided, `AlreadyTrainedError` says so.

    Raises:
        AlreadyTrainedError (NothingToDo): the same model is registered and CD has decided it.
        TrainingDataError: a source table is missing, or the window is empty, too small or single-class
            (checked before any MLflow run exists, so nothing is logged or registered).
        TrainingRequestError: an invalid window or an unknown model family.
    """
    window = TrainingWindow.from_settings(settings, request.window_end, request.window_days)
    budget, family = request.budget(settings), request.family(settings)
    training = build_training_set(spark, lakehouse, settings, window)
    check_training_set(training, settings.training.min_training_rows)
    choices = {"model_family": family, "tuning_trials": budget.trials, "tuning_timeout_seconds": budget.timeout_seconds}
    fingerprint = training_fingerprint(settings, training, choices)
    twin = registered_twin(settings, training, fingerprint)
    if twin is not None:
        return twin
    log.info("Training %s on %s: %s rows per split", family, window.describe(), training.counts())
    fitted = fit_and_evaluate(training, budget, settings.training.seed, settings.training.n_threads)
    return log_and_register(lakehouse, settings, request, training, fitted, budget, fingerprint)


def registered_twin(settings: Settings, training: TrainingSet, fingerprint: str) -> TrainingResult | None:
    """The registered version with this training fingerprint while CD has not decided it, else None.

    Raises:
        AlreadyTrainedError: the version exists and CD decided it (champion, rejected, superseded, retired).
    """
    from mlflow import MlflowClient

    from mlops.registry.transitions import cd_pending

    name = settings.mlflow.model_name
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    mv = find_fingerprinted(client, name, fingerprint)
    if mv is None:
        return None
    same = f"{name} v{mv.version} was trained on the same rows, code and settings ({training.window.describe()})"
    if not cd_pending(mv):
        status = (mv.tags or {}).get("cd.status")
        raise AlreadyTrainedError(f"Not training: {same} and is {status}; nothing new to register")
    log.info("Not training: %s and awaits CD; returning it for model_promotion to finish", same)
    metrics = dict(client.get_run(mv.run_id).data.metrics)
    task = training.usecase.model.task
    return TrainingResult(
        name, str(mv.version), mv.run_id, mv.source, training.window, training.counts(), metrics, task
    )


def log_and_register(
    lakehouse: Lakehouse,
    settings: Settings,
    request: TrainingRequest,
    training: TrainingSet,
    fitted: FittedModel,
    budget: TuningBudget,
    fingerprint: str | None = None,
) -> TrainingResult:
    """One MLflow run with everything about the model; then a new registry version and an audit row.

    `fingerprint` (`training_fingerprint`) is tagged on the run and the version as `mlops.training_fingerprint`.
    """
    import mlflow

    from mlops.monitoring.reference import log_reference, store_reference
    from mlops.tracking import ensure_experiment
    from mlops.training.estimator import VALIDATION_LOSS
    from mlops.training.evaluate import plot_evaluation
    from mlops.training.track import (
        append_training_run,
        code_version,
        log_datasets,
        log_evaluation_artifacts,
        log_model,
        register_version,
        run_tags,
        temporary_folder,
    )

    mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
    experiment_id = ensure_experiment(settings)
    tags = run_tags(settings, training, request.who, code_version())
    if fingerprint:
        tags[FINGERPRINT_TAG] = fingerprint
    metrics = {**fitted.evaluation.metrics(), "fit_seconds": fitted.seconds}
    task = training.usecase.model.task
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run, temporary_folder() as scratch:
        mlflow.log_params(_params(settings, request, training, fitted, budget))
        mlflow.log_metrics(metrics)
        for step, trial in enumerate(fitted.tuning.trials):
            mlflow.log_metric(f"trial_validation_{VALIDATION_LOSS[task]}", trial.validation_loss, step=step)
        log_datasets(training)
        y = training.part("test")[training.label].to_numpy()
        plots = plot_evaluation(task, y, fitted.test_scores, Path(scratch))
        log_evaluation_artifacts(fitted.evaluation, fitted.tuning, plots, fitted.importance)
        info = log_model(fitted.model, training.part("test"), training.usecase)
        reference = _reference_profile(settings, training, fitted)
        log_reference(reference)
        version = register_version(settings, info.model_uri, run.info.run_id, training, fitted.evaluation, tags)
        mlflow.set_tag("mlops.model_version", version.version)
    store_reference(lakehouse, reference, str(version.version), run.info.run_id)
    result = TrainingResult(
        settings.mlflow.model_name,
        str(version.version),
        run.info.run_id,
        info.model_uri,
        training.window,
        training.counts(),
        metrics,
        task,
    )
    append_training_run(lakehouse, _audit_row(settings, request, result, tags["mlops.code_version"]))
    return result


def _reference_profile(settings: Settings, training: TrainingSet, fitted: FittedModel) -> Any:
    """What monitoring compares with: the training set's model inputs and the model's score on them (P(positive
    class), the predicted value, or the probability of the predicted class: `prediction_score`)."""
    from mlops.monitoring.reference import build_reference
    from mlops.training.estimator import feature_columns, model_inputs, prediction_score

    usecase = training.usecase
    inputs = model_inputs(training.frame, usecase)
    scores = prediction_score(usecase.model.task, predict_scores(usecase, fitted.model, training.frame))
    source = f"training set {training.window.describe()}, {len(inputs):,} rows"
    return build_reference(settings, inputs, scores, feature_columns(usecase), source)


def _params(
    settings: Settings, request: TrainingRequest, training: TrainingSet, fitted: FittedModel, budget: TuningBudget
) -> dict[str, Any]:
    window, best = training.window, fitted.tuning.best
    return {
        "model_family": request.family(settings),
        "window_first": str(window.first),
        "window_end": str(window.end),
        "window_days": window.days,
        "validation_days": window.validation_days,
        "test_days": window.test_days,
        "cutoff": window.cutoff.isoformat(),
        "seed": settings.training.seed,
        "tuning_trials": budget.trials,
        "tuning_timeout_seconds": budget.timeout_seconds,
        "trials_run": len(fitted.tuning.trials),
        "tuning_timed_out": fitted.tuning.timed_out,
        "n_iter": best.n_iter,
        **{f"best_{k}": v for k, v in best.params.items()},
        **{f"rows_{k}": v for k, v in training.counts().items()},
        "rows_unlabelled": training.unlabelled,
        **{f"data_version.{s.table}": s.version for s in training.sources},
    }


def _audit_row(settings: Settings, request: TrainingRequest, result: TrainingResult, code: str) -> dict[str, Any]:
    window = result.window
    return {
        "run_id": result.run_id,
        "model_name": result.model_name,
        "model_version": result.version,
        "env": settings.env,
        "reason": request.who.reason,
        "dag_id": request.who.dag_id,
        "airflow_run_id": request.who.run_id,
        "code_version": code,
        "window_first": window.first,
        "window_end": window.end,
        "cutoff": window.cutoff,
        **{f"rows_{k}": int(v) for k, v in result.rows.items()},
        **{k: float(v) for k, v in result.metrics.items()},
    }
