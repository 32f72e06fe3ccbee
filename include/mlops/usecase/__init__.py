"""Use cases: the contract a use case provides and how the platform finds and loads them."""

from mlops.task_metrics import TASK_TYPES, TaskType
from mlops.usecase.contract import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_NULLS,
    ENTITY_DATE,
    Column,
    Dataset,
    Entity,
    FeatureSpec,
    LabelSpec,
    LocalHour,
    ModelSpec,
    UseCase,
    UseCaseError,
)
from mlops.usecase.loader import check_usecase, enabled_names, load_usecase, registered_packages, usecase_of

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_NULLS",
    "ENTITY_DATE",
    "TASK_TYPES",
    "Column",
    "Dataset",
    "Entity",
    "FeatureSpec",
    "LabelSpec",
    "LocalHour",
    "ModelSpec",
    "TaskType",
    "UseCase",
    "UseCaseError",
    "check_usecase",
    "enabled_names",
    "load_usecase",
    "registered_packages",
    "usecase_of",
]
