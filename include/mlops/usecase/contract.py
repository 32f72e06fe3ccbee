"""The use-case contract: everything specific to one ML problem, as one typed object the platform reads.

A use case is a Python package that exposes `usecase() -> UseCase`. The platform (features, training,
registry, inference, monitoring, DAG factories) reads only this object; it never imports a use case by
name. Module-level imports here stay light (no pyspark, pandas, sklearn, pyarrow): DAG files load use
cases at parse time. Heavy work sits behind the callables, which import what they need when called.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlops.errors import Refusal
from mlops.features.catalog import FeatureTable
from mlops.task_metrics import TaskType

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path

    import pyarrow as pa

    from mlops.config import DataSettings

ColumnType = Literal["int64", "float64", "string", "timestamp", "date", "bool"]
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
# The data date of an entity in training sets, scoring sets, gold.predictions and monitoring tables: the
# entity table's date partition (e.g. the local date of a scheduled event).
ENTITY_DATE = "entity_date"


class UseCaseError(Refusal, ValueError):
    """A use case cannot be loaded or is inconsistent; the message names the use case and the field."""

    def __init__(self, usecase: str, field_name: str, problem: str) -> None:
        super().__init__(f"Use case {usecase!r}: {field_name}: {problem}")
        self.usecase, self.field_name, self.problem = usecase, field_name, problem


class UnknownFeatureTableError(Refusal, KeyError):
    """A feature table the use case does not declare was asked for (the message lists those it declares)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# Cell spellings that mean null in a column that declares no `nulls` of its own: what common CSV writers emit for
# a missing value (pandas, R, SQL exports). Any other spelling is a value, so `nan` or `None` in a numeric column
# is refused naming the column, the value and the row.
DEFAULT_NULLS = ("", "NA", "NaN", "null", "NULL")
# The longest string value a column takes unless it declares `max_length`: a 1 MB field is refused by default.
DEFAULT_MAX_LENGTH = 256


@dataclass(frozen=True)
class Column:
    """One landing column: its type and what a valid value looks like.

    Attributes:
        min_value, max_value: plausible range of a numeric column (either may be None).
        allowed: coded columns: every value must be one of these.
        pattern: string columns: every value must match this regular expression in full (e.g. `[A-Z]{3}`).
        required: never null (key columns are required whatever this says).
        nulls: the cell spellings that mean null in this column; any other spelling must parse as `dtype`.
        max_length: string columns: the longest value, in characters.
    """

    name: str
    dtype: ColumnType
    description: str = ""
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    required: bool = False
    nulls: tuple[str, ...] = DEFAULT_NULLS
    max_length: int = DEFAULT_MAX_LENGTH


@dataclass(frozen=True)
class LocalHour:
    """Consistency of a dataset's UTC `time_column` with its date parts and an hour column.

    Every row's time column must be the start of the local hour `date_parts` + `hour` in `time_zone` (an IANA
    name), converted to UTC. Either instant of a repeated hour (the autumn clock change) is accepted; an hour
    the spring clock change skips is refused.
    """

    hour: str
    time_zone: str


@dataclass(frozen=True)
class Dataset:
    """A dataset delivered to the landing zone as one CSV file per day (its landing contract).

    `per_day`: the file holds that day's rows (dated by `date_parts` / `time_column`); False means a
    whole-table snapshot delivered daily (reference data such as a product or aircraft list).
    `row_count_band=(low, high)`: the file's row count must lie within low..high times the median row count of
    the last `row_count_history` days already in bronze (a snapshot: within the band of the bronze table's
    rows); with no history only "at least one row" is checked; None checks only that.
    """

    name: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]  # unique per file (and per bronze table)
    per_day: bool = True
    date_parts: tuple[str, str, str] | None = None  # (year, month, day) columns that must equal the landing date
    time_column: str | None = None  # a UTC timestamp column that must lie within the landing day +-1 day
    description: str = ""
    local_hour: LocalHour | None = None  # time_column = date_parts + this hour, local time, in UTC
    row_count_band: tuple[float, float] | None = None
    row_count_history: int = 7

    @property
    def bronze_table(self) -> str:
        """The bronze table the dataset is ingested into."""
        return f"bronze.{self.name}"

    @property
    def schema(self) -> pa.Schema:
        """Columns of the landing file with the Arrow types they must parse to."""
        import pyarrow as pa

        from mlops.schemas import arrow_type

        return pa.schema([(c.name, arrow_type(c.dtype)) for c in self.columns])

    @property
    def bronze_schema(self) -> pa.Schema:
        """Landing columns plus ingestion lineage columns."""
        import pyarrow as pa

        from mlops.schemas import INGESTION_COLUMNS

        return pa.schema(list(self.schema) + list(INGESTION_COLUMNS))

    @property
    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        """Plausible (min, max) per column that declares one."""
        return {c.name: (c.min_value, c.max_value) for c in self.columns if (c.min_value, c.max_value) != (None, None)}

    @property
    def allowed_values(self) -> dict[str, tuple[str, ...]]:
        """Allowed values per coded column."""
        return {c.name: c.allowed for c in self.columns if c.allowed is not None}

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns that are never null: the keys and every column declared `required`, in column order."""
        return tuple(c.name for c in self.columns if c.required or c.name in self.keys)

    @property
    def patterns(self) -> dict[str, str]:
        """The full-match regular expression per string column that declares one."""
        return {c.name: c.pattern for c in self.columns if c.pattern is not None}

    @property
    def max_lengths(self) -> dict[str, int]:
        """The longest value (characters) per string column."""
        return {c.name: c.max_length for c in self.columns if c.dtype == "string"}


# A feature computation: (spark, lakehouse, settings, first, last) -> the rows of every logical day.
FeatureJob = Callable[..., Any]


@dataclass(frozen=True)
class Entity:
    """What is predicted and when: the entity keys and the prediction-time rule.

    The entity table is the feature table whose rows are the entities to predict, one per key with its
    prediction time (`time_column`); its computation implements the prediction-time rule.
    """

    keys: tuple[str, ...]
    table: str  # feature table (`features.<name>`) whose rows are the entities
    time_column: str = "prediction_ts"
    noun: str = "entity"  # how messages and summaries name one row ("order", "hour")
    prediction_time_rule: str = ""  # one sentence, for docs and run descriptions


@dataclass(frozen=True)
class FeatureSpec:
    """The feature tables (in PIT-join order) and the Spark computation of each."""

    tables: tuple[FeatureTable, ...]
    compute: Mapping[str, FeatureJob]  # table name -> job over [first, last]
    key_dtypes: Mapping[str, str]  # Spark SQL type of every non-feature column of the tables
    catalog_note: str = ""

    def table(self, name: str) -> FeatureTable:
        """The table called `name` (`features.<table>` or `<table>`); UnknownFeatureTableError lists the known ones."""
        for table in self.tables:
            if name in (table.name, table.short_name):
                return table
        known = ", ".join(t.name for t in self.tables)
        raise UnknownFeatureTableError(f"Unknown feature table {name!r}; registered tables: {known}")

    def model_features(self) -> tuple[str, ...]:
        """Every feature meant as a model input, in catalog order (the PIT join's output columns)."""
        return tuple(f.name for t in self.tables for f in t.features if f.model_input)

    def column_dtypes(self, table: FeatureTable) -> dict[str, str]:
        """Spark SQL type of every stored column of `table`, in storage order."""
        by_feature = {f.name: f.dtype for f in table.features}
        return {c: by_feature.get(c) or self.key_dtypes[c] for c in table.columns}


@dataclass(frozen=True)
class LabelSpec:
    """The label rule and when a label becomes known.

    `spark(bronze) -> DataFrame[entity keys, <column>, label_known_ts]` and `pandas(bronze) -> the same
    as pandas` (monitoring) implement one rule over the rows of `source`. A label is usable only once
    known (`label_known_ts <= cutoff`); `lag_days` is how many days after the entity's date labels are
    complete, which sets training cutoffs, compliance samples, comparison windows and monitoring delays.
    """

    column: str
    source: str  # bronze table the rule reads, e.g. "bronze.orders"
    lag_days: int
    spark: Callable[[Any], Any]
    pandas: Callable[[Any], Any]
    description: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """What is learnt and how it is judged.

    `build_estimator(params, max_iter=..., seed=..., features=[...], categorical=[...])` returns an
    unfitted sklearn estimator or pipeline; `baseline(test, train) -> scores` is the business baseline
    scored on the same held-out rows: P(positive class) for binary, an (n, k) probability matrix whose columns
    follow `classes` for multiclass, predicted values for regression.
    """

    task: TaskType
    build_estimator: Callable[..., Any]
    search_space: Mapping[str, tuple[Any, ...]]
    categorical: tuple[str, ...]
    baseline: Callable[[Any, Any], Any]
    baseline_description: str
    max_iter: int = 300
    skops_trusted_types: tuple[str, ...] = ()  # types outside skops' default trust list the fitted model holds
    staged_scores: Callable[..., Any] | None = None  # (fitted, X) -> iterator of per-round scores, for early stopping
    classes: tuple[Any, ...] | None = None  # multiclass only: the class labels, sorted (predict_proba's column order)


@dataclass(frozen=True)
class UseCase:
    """One ML problem: its data contracts, entity, features, labels, model and settings."""

    name: str
    description: str
    datasets: tuple[Dataset, ...]
    land_day: Callable[[Any, date], list[Path]]  # (settings, day) -> the files it landed: the source / replayer
    entity: Entity
    features: FeatureSpec
    labels: LabelSpec
    model: ModelSpec
    config_dir: str  # folder with dev.yaml, staging.yaml, prod.yaml (this use case's settings)
    data_settings: type[DataSettings] | None = None  # the `data:` section's model; default the platform's
    owner: str = "ml-platform"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def dataset(self, name: str) -> Dataset:
        """The dataset called `name`; KeyError lists the known ones."""
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        raise KeyError(f"Unknown dataset {name!r} of use case {self.name!r}; expected one of {self.dataset_names}")

    @property
    def dataset_names(self) -> tuple[str, ...]:
        """Dataset names in declaration order (the order landing files are waited for and ingested)."""
        return tuple(d.name for d in self.datasets)

    @property
    def entity_table(self) -> FeatureTable:
        """The feature table whose rows are the entities."""
        return self.features.table(self.entity.table)
