"""Expectation suites as code: raw landing batches per dataset and feature tables from the registry."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

    from mlops.config import Settings
    from mlops.features.catalog import FeatureTable
    from mlops.usecase import Dataset, UseCase

ROW, BATCH = "row", "batch"  # meta["level"]: may failing rows be quarantined, or does the batch fail?


def raw_suite(ds: Dataset, day: date) -> gx.ExpectationSuite:
    """Suite for one landing batch of dataset `ds` delivered for `day` (suite name `raw_<dataset>`), from its contract.

    Batch-level: exact column set, column types, row count > 0, unique keys.
    Row-level: keys and required columns not null, value ranges, allowed values of coded columns, full-match
    patterns and maximum lengths of string columns, the row's date parts are the landing date and its time
    column lies within that day +-1 day (so future-dated rows fail). The rules across rows and deliveries
    (local hour, row-count band) are in `mlops.quality.landing_rules`.
    """
    import great_expectations as gx

    E = gx.expectations
    expectations = _contract_expectations(
        ds,
        columns=list(ds.schema.names),
        row_count=E.ExpectTableRowCountToBeBetween(min_value=1, meta=_level(BATCH)),
        keys=ds.keys,
    )
    expectations.extend(_date_expectations(ds, day))
    return gx.ExpectationSuite(name=f"raw_{ds.name}", expectations=expectations, meta={"day": day.isoformat()})


LANDING_DATE = "_landing_date"  # with_landing_dates: the date of the file a row came from (ISO)
_LANDING_PARTS = ("_landing_year", "_landing_month", "_landing_day")
HOURS_AFTER_LANDING = "_hours_after_landing"  # the row's time column minus its file's date at 00:00 UTC, in hours


def with_landing_dates(frame: pd.DataFrame, ds: Dataset, days: list[tuple[date, int]]) -> pd.DataFrame:
    """The gate frame of several landing files concatenated in order (`days`: each file's date and row count),
    with the columns `raw_range_suite` checks each row against its own file's date by."""
    import numpy as np
    import pandas as pd

    dates = np.repeat([day for day, _ in days], [rows for _, rows in days])
    extra: dict[str, Any] = {LANDING_DATE: [day.isoformat() for day in dates]}
    if ds.date_parts is not None:
        for name, part in zip(_LANDING_PARTS, ("year", "month", "day"), strict=True):
            extra[name] = pd.array([getattr(day, part) for day in dates], dtype="Int64")
    if ds.time_column is not None:
        midnight = pd.to_datetime(pd.Series(dates, index=frame.index)).dt.tz_localize(UTC)
        extra[HOURS_AFTER_LANDING] = (frame[ds.time_column] - midnight) / pd.Timedelta(hours=1)
    return frame.assign(**extra)


def raw_range_suite(ds: Dataset, days: list[date]) -> gx.ExpectationSuite:
    """`raw_suite` for the landing files of several `days` validated as one batch (`with_landing_dates`):
    every expectation of each day's suite, held per file. The batch passes only if each file would pass its
    own suite: each file has a row, the keys are unique within a file, the date parts equal the file's date
    and the time column lies within its day +-1 day (suite name `raw_<dataset>`, as for one day)."""
    import great_expectations as gx

    E = gx.expectations
    derived = [LANDING_DATE]
    derived += list(_LANDING_PARTS) if ds.date_parts is not None else []
    derived += [HOURS_AFTER_LANDING] if ds.time_column is not None else []
    expectations = _contract_expectations(
        ds,
        columns=[*ds.schema.names, *derived],
        row_count=E.ExpectColumnDistinctValuesToEqualSet(
            column=LANDING_DATE, value_set=[day.isoformat() for day in days], meta=_level(BATCH)
        ),
        keys=(*ds.keys, LANDING_DATE),
    )
    if ds.date_parts is not None:
        for column, landing in zip(ds.date_parts, _LANDING_PARTS, strict=True):
            expectations.append(
                E.ExpectColumnPairValuesToBeEqual(
                    column_A=column, column_B=landing, ignore_row_if="either_value_is_missing", meta=_level(ROW)
                )
            )
    if ds.time_column is not None:
        expectations.append(
            E.ExpectColumnValuesToBeBetween(
                column=HOURS_AFTER_LANDING, min_value=-24, max_value=48, strict_max=True, meta=_level(ROW)
            )
        )
    meta = {"days": [days[0].isoformat(), days[-1].isoformat()]}
    return gx.ExpectationSuite(name=f"raw_{ds.name}", expectations=expectations, meta=meta)


def _contract_expectations(ds: Dataset, *, columns: list[str], row_count: Any, keys: tuple[str, ...]) -> list[Any]:
    """A raw suite's expectations but the date checks: column set, row count, types, nulls, keys, values."""
    import great_expectations as gx

    E = gx.expectations
    expectations: list[Any] = [
        E.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True, meta=_level(BATCH)),
        row_count,
        *(_type_expectation(field) for field in ds.schema),
        *(E.ExpectColumnValuesToNotBeNull(column=name, meta=_level(ROW)) for name in ds.required_columns),
        _unique(keys),
    ]
    for column, (low, high) in ds.ranges.items():
        expectations.append(
            E.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, meta=_level(ROW))
        )
    for column, allowed in ds.allowed_values.items():
        expectations.append(E.ExpectColumnValuesToBeInSet(column=column, value_set=list(allowed), meta=_level(ROW)))
    for column, pattern in ds.patterns.items():
        expectations.append(
            E.ExpectColumnValuesToMatchRegex(column=column, regex=f"^(?:{pattern})\\Z", meta=_level(ROW))
        )
    for column, longest in ds.max_lengths.items():
        expectations.append(E.ExpectColumnValueLengthsToBeBetween(column=column, max_value=longest, meta=_level(ROW)))
    return expectations


def feature_suite(
    table: FeatureTable, day: date, previous_day_rows: int | None, settings: Settings
) -> gx.ExpectationSuite:
    """Suite for the rows a feature refresh of `day` is about to merge into `table`.

    Built from the registry: keys (entity + timestamp) not null and unique, each feature's
    min/max when given, its null fraction at most `max_null_fraction`, freshness (the latest
    timestamp falls in the logical day, which in UTC may run into the next day), and the row
    count within `settings.quality.row_count_band` of the previous day's when that is known.
    """
    import great_expectations as gx

    E = gx.expectations
    start = datetime.combine(day, time(), tzinfo=UTC)
    expectations: list[Any] = [
        *(E.ExpectColumnValuesToNotBeNull(column=key, meta=_level(ROW)) for key in table.keys),
        _unique(table.keys),
        E.ExpectColumnMaxToBeBetween(
            column=table.timestamp_column, min_value=start, max_value=start + timedelta(days=2), meta=_level(BATCH)
        ),
        _row_count(previous_day_rows, settings.quality.row_count_band),
    ]
    for feature in table.features:
        if feature.min_value is not None or feature.max_value is not None:
            expectations.append(
                E.ExpectColumnValuesToBeBetween(
                    column=feature.name, min_value=feature.min_value, max_value=feature.max_value, meta=_level(ROW)
                )
            )
        expectations.append(
            E.ExpectColumnValuesToNotBeNull(
                column=feature.name, mostly=1.0 - feature.max_null_fraction, meta=_level(BATCH)
            )
        )
    return gx.ExpectationSuite(name=f"features_{table.short_name}", expectations=expectations, meta={"day": str(day)})


def pandas_type_name(arrow_type: pa.DataType) -> str:
    """The type name GX observes on a pandas column holding `arrow_type` (see `gate.to_gate_frame`)."""
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_floating(arrow_type):
        return "float64"
    if pa.types.is_timestamp(arrow_type):
        return "Timestamp"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str"
    raise ValueError(f"No pandas type check for Arrow type {arrow_type}")


def _level(level: str) -> dict[str, str]:
    return {"level": level}


def _type_expectation(field: pa.Field) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnValuesToBeOfType(
        column=field.name, type_=pandas_type_name(field.type), meta=_level(BATCH)
    )


def _unique(columns: tuple[str, ...]) -> Any:
    import great_expectations as gx

    if len(columns) == 1:
        return gx.expectations.ExpectColumnValuesToBeUnique(column=columns[0], meta=_level(BATCH))
    return gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(columns), meta=_level(BATCH))


def _row_count(previous: int | None, band: float) -> Any:
    import great_expectations as gx

    if previous is None:
        return gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, meta=_level(BATCH))
    low, high = max(1, math.floor(previous * (1 - band))), math.ceil(previous * (1 + band))
    return gx.expectations.ExpectTableRowCountToBeBetween(min_value=low, max_value=high, meta=_level(BATCH))


def _date_expectations(ds: Dataset, day: date) -> list[Any]:
    """The row's date parts are the landing date; its time column lies within day-1 .. day+2 (exclusive)."""
    import great_expectations as gx

    E = gx.expectations
    start = datetime.combine(day, time(), tzinfo=UTC)
    out: list[Any] = []
    if ds.date_parts is not None:
        for column, value in zip(ds.date_parts, (day.year, day.month, day.day), strict=True):
            out.append(E.ExpectColumnValuesToBeInSet(column=column, value_set=[value], meta=_level(ROW)))
    if ds.time_column is not None:
        out.append(
            E.ExpectColumnValuesToBeBetween(
                column=ds.time_column,
                min_value=start - timedelta(days=1),
                max_value=start + timedelta(days=2),
                strict_max=True,
                meta=_level(ROW),
            )
        )
    return out


def scoring_suite(day: date, settings: Settings, columns: list[str], usecase: UseCase) -> gx.ExpectationSuite:
    """Suite for the staged scoring set of `day`, before any model sees it.

    Batch-level: exactly the expected columns, at least one row, one row per entity and prediction
    time, each model input null in at most `inference.max_feature_null_fraction` of the rows (or its
    registered limit, if higher; inputs registered as possibly all null are not checked).
    Row-level: keys not null, prediction time within the day (UTC, +-1 day), coded key columns among
    their contract's allowed values, each feature within its registered range.
    """
    import great_expectations as gx

    from mlops.inference.scoring_set import input_columns, key_columns

    E = gx.expectations
    keys = key_columns(usecase)
    allowed = {c: v for ds in usecase.datasets for c, v in ds.allowed_values.items() if c in usecase.entity.keys}
    start = datetime.combine(day, time(), tzinfo=UTC)
    expectations: list[Any] = [
        E.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True, meta=_level(BATCH)),
        E.ExpectTableRowCountToBeBetween(min_value=1, meta=_level(BATCH)),
        _unique(keys),
        *(E.ExpectColumnValuesToNotBeNull(column=key, meta=_level(ROW)) for key in keys),
        E.ExpectColumnValuesToBeBetween(
            column=usecase.entity.time_column,
            min_value=start - timedelta(days=1),
            max_value=start + timedelta(days=2),
            meta=_level(ROW),
        ),  # fmt: skip
        *(E.ExpectColumnValuesToBeInSet(column=c, value_set=list(v), meta=_level(ROW)) for c, v in allowed.items()),
    ]
    specs = {f.name: f for t in usecase.features.tables for f in t.features}
    limit = settings.inference.max_feature_null_fraction
    for name in input_columns(usecase):
        spec = specs[name]
        if spec.min_value is not None or spec.max_value is not None:
            expectations.append(
                E.ExpectColumnValuesToBeBetween(
                    column=name, min_value=spec.min_value, max_value=spec.max_value, meta=_level(ROW)
                )
            )
        if spec.max_null_fraction < 1.0:  # features that may legitimately be all null are not checked
            mostly = 1.0 - max(limit, spec.max_null_fraction)
            expectations.append(E.ExpectColumnValuesToNotBeNull(column=name, mostly=mostly, meta=_level(BATCH)))
    return gx.ExpectationSuite(name="scoring_set", expectations=expectations, meta={"day": str(day)})


def predictions_suite(day: date, version: str, input_rows: int, usecase: UseCase) -> gx.ExpectationSuite:
    """Suite for the staged predictions of (`day`, model `version`), before they are published.

    Batch-level: exactly one prediction per scoring-set row (`input_rows`), unique keys.
    Row-level: the pinned model version, and the task's prediction columns on every row
    (`prediction_expectations`).
    """
    import great_expectations as gx

    from mlops.inference.scoring_set import key_columns

    E = gx.expectations
    expectations: list[Any] = [
        E.ExpectTableRowCountToEqual(value=input_rows, meta=_level(BATCH)),
        _unique(key_columns(usecase)),
        *prediction_expectations(usecase),
        E.ExpectColumnValuesToBeInSet(column="model_version", value_set=[str(version)], meta=_level(ROW)),
    ]
    return gx.ExpectationSuite(name="predictions", expectations=expectations, meta={"day": str(day)})


def prediction_expectations(usecase: UseCase) -> list[Any]:
    """Binary: a probability in [0, 1] and a decision; multiclass: one of the model's classes and its
    probability in [0, 1]; regression: a finite number (NaN counts as missing, infinity is out of range)."""
    import sys

    import great_expectations as gx

    E, task = gx.expectations, usecase.model.task
    if task == "regression":
        big = sys.float_info.max
        return [
            E.ExpectColumnValuesToNotBeNull(column="prediction", meta=_level(ROW)),
            E.ExpectColumnValuesToBeBetween(column="prediction", min_value=-big, max_value=big, meta=_level(ROW)),
        ]
    expectations = [
        E.ExpectColumnValuesToNotBeNull(column="probability", meta=_level(ROW)),
        E.ExpectColumnValuesToBeBetween(column="probability", min_value=0.0, max_value=1.0, meta=_level(ROW)),
    ]
    if task == "binary":
        return [*expectations, E.ExpectColumnValuesToNotBeNull(column="decision", meta=_level(ROW))]
    classes = list(usecase.model.classes or ())
    return [
        *expectations,
        E.ExpectColumnValuesToNotBeNull(column="prediction", meta=_level(ROW)),
        E.ExpectColumnValuesToBeInSet(column="prediction", value_set=classes, meta=_level(ROW)),
    ]


def feature_drift_suite(day: date) -> gx.ExpectationSuite:
    """Suite for one day's monitoring.feature_drift rows, before they are appended."""
    import great_expectations as gx

    E = gx.expectations
    expectations: list[Any] = [
        E.ExpectTableRowCountToBeBetween(min_value=1, meta=_level(BATCH)),
        E.ExpectColumnValuesToBeUnique(column="feature", meta=_level(BATCH)),
        *(E.ExpectColumnValuesToNotBeNull(column=c, meta=_level(BATCH)) for c in ("psi", "distance", "p_value")),
        E.ExpectColumnValuesToBeBetween(column="psi", min_value=0, meta=_level(BATCH)),
        E.ExpectColumnValuesToBeBetween(column="distance", min_value=0, meta=_level(BATCH)),
        E.ExpectColumnValuesToBeBetween(column="p_value", min_value=0, max_value=1, meta=_level(BATCH)),
        E.ExpectColumnValuesToBeInSet(column="kind", value_set=["numeric", "categorical"], meta=_level(BATCH)),
        E.ExpectColumnValuesToBeBetween(column="dataset_drifted_share", min_value=0, max_value=1, meta=_level(BATCH)),
    ]
    return gx.ExpectationSuite(name="feature_drift", expectations=expectations, meta={"day": str(day)})


# Bounds of each monitored metric, in the order the suite checks them (binary: roc_auc, brier, log_loss).
METRIC_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "roc_auc": (0, 1),
    "brier": (0, 1),
    "log_loss": (0, None),
    "macro_f1": (0, 1),
    "accuracy": (0, 1),
    "rmse": (0, None),
    "mae": (0, None),
    "r2": (None, 1),
}


def model_performance_suite(day: date, metrics: tuple[str, ...]) -> gx.ExpectationSuite:
    """Suite for one day's monitoring.model_performance rows: each of the task's monitored `metrics` within
    its bounds (metrics may be null when nothing is labelled)."""
    import great_expectations as gx

    E = gx.expectations
    expectations: list[Any] = [
        E.ExpectTableRowCountToEqual(value=2, meta=_level(BATCH)),
        E.ExpectColumnValuesToBeInSet(column="granularity", value_set=["day", "window"], meta=_level(BATCH)),
        *(
            E.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high, meta=_level(BATCH))
            for name, (low, high) in METRIC_BOUNDS.items()
            if name in metrics
        ),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="predictions", column_B="labelled", or_equal=True, meta=_level(BATCH)
        ),
    ]
    return gx.ExpectationSuite(name="model_performance", expectations=expectations, meta={"day": str(day)})
