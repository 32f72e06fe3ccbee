"""Training fingerprints: one hash of everything that determines a model, so a rerun registers nothing twice.

The fingerprint covers the training set's content (every row, label and split, in key order), the training
window, the model family, tuning budget and seed (the training settings), and the code: the source files
of the platform package and of the use case's package. Two requests with the same fingerprint train the
same model, so `train_model` looks for a registered version tagged with it before fitting and, when one
exists, registers nothing. What the request says about who asked (reason, DAG, run) is not part of it: a
drift-triggered retrain on unchanged data is the same model; one on new data has a new window and content.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlops

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from mlops.config import Settings
    from mlops.training.dataset import TrainingSet
    from mlops.usecase import UseCase

FINGERPRINT_TAG = "mlops.training_fingerprint"


def training_fingerprint(settings: Settings, training: TrainingSet, choices: dict[str, Any]) -> str:
    """The sha256 (hex) of the training set's content, the window, the request's resolved `choices`
    (family, budget), the training settings and the platform and use-case code."""
    parts = {
        "model_name": settings.mlflow.model_name,
        "data": frame_digest(training),
        "window": training.window.describe(),
        "splits": [training.window.validation_days, training.window.test_days],
        "choices": choices,
        "training_settings": settings.training.model_dump(mode="json"),
        "code": code_digest(training.usecase),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def frame_digest(training: TrainingSet) -> str:
    """sha256 of the training rows (columns by name, rows in key order): equal for equal content only."""
    import pandas as pd

    usecase = training.usecase
    frame = training.frame
    keys = [c for c in (*usecase.entity.keys, usecase.entity.time_column) if c in frame.columns]
    ordered = frame[sorted(frame.columns)].sort_values(keys, kind="mergesort").reset_index(drop=True)
    digest = hashlib.sha256(",".join(ordered.columns).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def code_digest(usecase: UseCase) -> str:
    """sha256 of the Python sources of the platform package and of the package defining the use case."""
    package = usecase.land_day.__module__.rsplit(".", 1)[0]
    return _sources_digest((Path(mlops.__file__).parent, Path(importlib.import_module(package).__file__).parent))


@cache
def _sources_digest(folders: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            digest.update(f"{path.relative_to(folder.parent)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def find_fingerprinted(client: MlflowClient, model_name: str, fingerprint: str) -> ModelVersion | None:
    """The newest registered version of `model_name` tagged with `fingerprint`, or None."""
    query = f"name='{model_name}' and tags.`{FINGERPRINT_TAG}` = '{fingerprint}'"
    found = client.search_model_versions(query)
    return max(found, key=lambda mv: int(mv.version)) if found else None
