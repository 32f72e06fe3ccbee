"""A trained, scored and published model of a test use case on a private lakehouse and registry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from tests.unit._training import LAST, WINDOW_DAYS, training_lakehouse
from tests.unit.task_usecases import task_settings


@contextlib.contextmanager
def scored_model(
    spark,
    home: Path,
    name: str,
    days: tuple[date, ...] = (),
    end: date = LAST,
    window_days: int = WINDOW_DAYS,
    registry: Path | None = None,
) -> Iterator[SimpleNamespace]:
    """Train test use case `name` on [end - window_days + 1, end] (one tuning trial), then score `days` with the
    arrow engine, gate and publish them. Yields lake, settings, usecase, trained result and scoring model.

    The MLflow registry is `<registry or home>/mlflow.db`: models that live side by side in one test module
    share a registry (MLflow's tracking URI is process-wide).
    """
    from mlops.inference import ScoreRequest, ScoringModel, build_scoring_set, prediction_output, publish, score
    from mlops.quality.pipeline_gates import GateRequest, validate_predictions
    from mlops.training import RunIdentity, TrainingRequest, train_model
    from mlops.usecase import usecase_of

    lake = training_lakehouse(home / "lakehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_LAKEHOUSE_ROOT, lake.root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{(registry or home) / 'mlflow.db'}")
        settings = task_settings(load_settings("staging"), name)
        usecase = usecase_of(settings)
        request = TrainingRequest(end, window_days, tuning_trials=1, who=RunIdentity(reason=f"{name} test"))
        trained = train_model(spark, lake, settings, request)
        model = ScoringModel(trained.model_name, trained.version, trained.run_id, "version")
        for day in days:
            build_scoring_set(spark, lake, settings, day)
            score(lake, ScoreRequest(model, day, 0.3, "test", prediction_output(usecase)), "arrow")
            validate_predictions(GateRequest(settings, lake, "predictions", day, "test", trained.version, False))
            publish(lake, usecase, day, trained.version)
        yield SimpleNamespace(lake=lake, settings=settings, usecase=usecase, trained=trained, model=model)
