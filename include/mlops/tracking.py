"""MLflow tracking setup: the environment's experiment, with artifacts stored beside the backend."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.config import Settings

log = logging.getLogger(__name__)


def artifact_location(settings: Settings) -> str | None:
    """Local artifact root for a local (SQLite/file) backend; None lets a tracking server decide."""
    from mlops.config import mlops_home

    uri = settings.mlflow.tracking_uri
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return (mlops_home() / "mlartifacts" / settings.mlflow.experiment_name).as_uri()
    return None


def ensure_experiment(settings: Settings) -> str:
    """Create the environment's experiment if missing (idempotent); returns its id."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    location = artifact_location(settings)
    if location:
        Path(location.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    experiment_id = client.create_experiment(
        settings.mlflow.experiment_name,
        artifact_location=location,
        tags={"mlops.env": settings.env, "mlops.model_name": settings.mlflow.model_name},
    )
    log.info("Created MLflow experiment %s (%s)", settings.mlflow.experiment_name, experiment_id)
    return experiment_id


if __name__ == "__main__":
    from mlops.config import load_settings

    logging.basicConfig(level=logging.INFO)
    current = load_settings()
    print(f"MLflow experiment {current.mlflow.experiment_name}: {ensure_experiment(current)}")
