"""Finding, loading and checking use cases: registered by configuration or entry point, enabled by configuration.

Registration: the `usecases.packages` mapping of the environment's config (name -> Python package) and the
`mlops.usecases` entry-point group of installed distributions (name -> package). Enabling: the names in
`usecases.enabled` (or the comma-separated `MLOPS_USECASES` environment variable). A package exposes
`usecase() -> UseCase`. Loading checks the object against the contract and fails with one message naming
the use case and the field (`UseCaseError`).
"""

from __future__ import annotations

import importlib
import os
import re
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlops.task_metrics import TASK_TYPES
from mlops.usecase.contract import NAME_PATTERN, Column, Dataset, UseCase, UseCaseError

if TYPE_CHECKING:
    from mlops.config import Settings

ENTRY_POINT_GROUP = "mlops.usecases"
ENV_USECASES = "MLOPS_USECASES"
ENVIRONMENTS = ("dev", "staging", "prod")


def registered_packages(configured: dict[str, str], only: str | None = None) -> dict[str, str]:
    """Use-case name -> package: entry points of installed distributions, then the config mapping.

    Args:
        configured: the `usecases.packages` mapping of the config.
        only: refuse a name registered twice only when it is this one: loading one use case is not stopped by
            another's clash (that one fails when it is loaded, naming itself).

    Raises:
        UseCaseError: two registrations give one name different packages.
    """
    found: dict[str, str] = {}
    clashes: dict[str, str] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        _register(found, clashes, point.name, point.value.split(":")[0], f"entry point {point.value!r}")
    for name, package in configured.items():
        _register(found, clashes, name, package, "usecases.packages")
    for name, problem in clashes.items():
        if only is None or name == only:
            raise UseCaseError(name, "name", problem)
    return found


def _register(found: dict[str, str], clashes: dict[str, str], name: str, package: str, source: str) -> None:
    if found.get(name, package) != package:
        problem = f"registered twice, as {found[name]!r} and as {package!r} ({source}); rename one of them"
        clashes.setdefault(name, problem)
        return
    found[name] = package


def enabled_names(configured: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the enabled use cases: MLOPS_USECASES when set, else `usecases.enabled` of the config."""
    text = os.environ.get(ENV_USECASES, "").strip()
    names = tuple(n.strip() for n in text.split(",") if n.strip()) if text else configured
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UseCaseError(duplicates[0], "name", f"enabled twice in {names}; list each use case once")
    return names


@cache
def load_usecase(name: str, package: str) -> UseCase:
    """Import `package`, call its `usecase()` and check the result against the contract.

    Raises:
        UseCaseError: the package cannot be imported, has no `usecase()`, or the object breaks the contract.
    """
    try:
        module = importlib.import_module(package)
    except Exception as exc:  # any import failure of user code is reported the same way, with its cause
        raise UseCaseError(name, "package", f"cannot import {package!r}: {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, "usecase", None)
    if not callable(factory):
        raise UseCaseError(name, "package", f"{package!r} has no function usecase() returning a UseCase")
    usecase = factory()
    if not isinstance(usecase, UseCase):
        raise UseCaseError(name, "package", f"{package}.usecase() returned {type(usecase).__name__}, not a UseCase")
    if usecase.name != name:
        raise UseCaseError(name, "name", f"{package}.usecase() is named {usecase.name!r}; register it under that name")
    check_usecase(usecase)
    return usecase


def check_usecase(usecase: UseCase) -> None:
    """Refuse a use case whose parts do not fit together; the message names the field.

    Raises:
        UseCaseError: naming the use case, the field and the problem.
    """
    name = usecase.name
    if not NAME_PATTERN.match(name):
        raise UseCaseError(name, "name", "must be lower_snake_case, 2-41 characters, starting with a letter")
    if not usecase.datasets:
        raise UseCaseError(name, "datasets", "declares no dataset")
    for dataset in usecase.datasets:
        _check_dataset(name, dataset)
    _check_features(usecase)
    if usecase.model.task not in TASK_TYPES:
        raise UseCaseError(
            name, "model.task", f"unknown task type {usecase.model.task!r}; use one of {', '.join(TASK_TYPES)}"
        )
    _check_classes(usecase)
    if usecase.labels.lag_days < 0:
        raise UseCaseError(name, "labels.lag_days", f"must be >= 0, got {usecase.labels.lag_days}")
    unknown = [c for c in usecase.model.categorical if c not in usecase.features.model_features()]
    if unknown:
        raise UseCaseError(name, "model.categorical", f"{unknown} are not model features of the catalog")
    config = Path(usecase.config_dir)
    absent = [env for env in ENVIRONMENTS if not (config / f"{env}.yaml").is_file()]
    if absent:
        raise UseCaseError(name, "config_dir", f"{config} has no {', '.join(f'{e}.yaml' for e in absent)}")


def _check_dataset(name: str, dataset: Dataset) -> None:
    """Keys, column rules, the local-hour rule and the row-count band of one landing contract."""
    where = f"datasets.{dataset.name}"
    columns = {c.name for c in dataset.columns}
    missing = [k for k in dataset.keys if k not in columns]
    if missing:
        raise UseCaseError(name, f"{where}.keys", f"{missing} are not columns of the dataset")
    for column in dataset.columns:
        _check_column(name, f"{where}.columns.{column.name}", column)
    rule = dataset.local_hour
    if rule is not None:
        needed = [rule.hour, dataset.time_column] + list(dataset.date_parts or [None])
        if None in needed or any(c not in columns for c in needed):
            raise UseCaseError(name, f"{where}.local_hour", "needs date_parts, time_column and an hour column")
        try:
            ZoneInfo(rule.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UseCaseError(name, f"{where}.local_hour", f"unknown time zone {rule.time_zone!r}") from None
    band = dataset.row_count_band
    if band is not None and not (0 <= band[0] <= 1 <= band[1]):
        raise UseCaseError(name, f"{where}.row_count_band", f"needs 0 <= low <= 1 <= high, got {band}")
    if dataset.row_count_history < 1:
        raise UseCaseError(name, f"{where}.row_count_history", f"must be >= 1, got {dataset.row_count_history}")


def _check_column(name: str, where: str, column: Column) -> None:
    if column.pattern is not None:
        try:
            re.compile(column.pattern)
        except re.error as exc:
            problem = f"{column.pattern!r} is not a regular expression: {exc}"
            raise UseCaseError(name, f"{where}.pattern", problem) from None
    if (column.pattern or column.allowed) and column.dtype != "string":
        raise UseCaseError(name, where, f"pattern and allowed apply to string columns, not {column.dtype}")
    if column.max_length < 1:
        raise UseCaseError(name, f"{where}.max_length", f"must be >= 1, got {column.max_length}")
    if not all(isinstance(n, str) for n in column.nulls):
        raise UseCaseError(name, f"{where}.nulls", f"must be strings (cell spellings), got {column.nulls!r}")


def _check_classes(usecase: UseCase) -> None:
    """A multiclass model lists its classes, sorted as sklearn orders predict_proba columns; no other task does."""
    name, model = usecase.name, usecase.model
    if model.task != "multiclass":
        if model.classes is not None:
            raise UseCaseError(name, "model.classes", f"only multiclass models list classes; a {model.task} has none")
        return
    classes = list(model.classes or ())
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise UseCaseError(name, "model.classes", f"a multiclass model needs 2+ distinct classes, got {classes!r}")
    try:
        ordered = sorted(classes)
    except TypeError:
        raise UseCaseError(name, "model.classes", f"classes must be of one sortable type, got {classes!r}") from None
    if ordered != classes:
        raise UseCaseError(
            name, "model.classes", f"list them sorted as predict_proba orders its columns: {ordered!r}, not {classes!r}"
        )


def _check_features(usecase: UseCase) -> None:
    name, features = usecase.name, usecase.features
    if not features.tables:
        raise UseCaseError(name, "features.tables", "declares no feature table")
    for table in features.tables:
        if table.name not in features.compute:
            raise UseCaseError(name, f"features.compute[{table.name!r}]", "no computation for this table")
        untyped = [c for c in table.columns if c not in {f.name for f in table.features} | set(features.key_dtypes)]
        if untyped:
            raise UseCaseError(name, f"features.{table.short_name}", f"columns {untyped} have no type in key_dtypes")
    try:
        entity_table = features.table(usecase.entity.table)
    except KeyError:
        raise UseCaseError(name, "entity.table", f"{usecase.entity.table!r} is not a feature table") from None
    missing = [k for k in (*usecase.entity.keys, usecase.entity.time_column) if k not in entity_table.columns]
    if missing:
        raise UseCaseError(name, "entity.keys", f"{missing} are not columns of {entity_table.name}")


def usecase_of(settings: Settings) -> UseCase:
    """The use case a use case's settings belong to (`load_settings(usecase=...)`).

    Raises:
        UseCaseError: the settings are the platform's alone (no use case), or the use case is broken.
    """
    if not settings.usecase:
        raise UseCaseError("<none>", "settings", "these settings belong to no use case; load_settings(usecase=...)")
    return load_usecase(settings.usecase, settings.usecases.packages[settings.usecase])
