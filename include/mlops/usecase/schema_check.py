"""Dry run of a use case's Spark code over empty bronze tables of exactly the declared schemas.

Feature jobs and label rules are arbitrary Spark code over bronze. Run over empty DataFrames whose schemas are
the landing contracts (`Dataset.bronze_schema`), Spark's analysis (lazy, cheap on empty frames) refuses a column
no contract declares, naming it; the schema each job returns is then compared with its feature table's catalog.
The jobs read through a temporary lakehouse of empty Delta tables, one per dataset, so nothing real is read or
written. Feature refresh runs this before anything is written; teams run it with `python -m mlops.usecase.check`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from mlops.lakehouse import Lakehouse, TableNotFoundError
from mlops.schemas import INGESTION_COLUMNS
from mlops.usecase.contract import Dataset, UseCase, UseCaseError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mlops.config import Settings

log = logging.getLogger(__name__)

DRY_RUN_DAY = date(2020, 1, 1)  # any day: analysis does not depend on the dates a job filters on
LABEL_KNOWN = "label_known_ts"
INGESTION_NAMES = tuple(INGESTION_COLUMNS.names)
# What a job's own code can raise over empty frames (a typo, a wrong argument); other errors (a lost Spark
# connection) propagate so that retries apply.
USER_CODE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, NameError, IndexError)


@dataclass(frozen=True)
class DryRun:
    """What the dry run checked: the use case, its feature tables and label rule, and how long it took."""

    usecase: str
    tables: tuple[str, ...]
    seconds: float

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and logs."""
        return {"usecase": self.usecase, "tables": list(self.tables), "labels": True, "seconds": round(self.seconds, 2)}


class _EmptyBronze(Lakehouse):
    """A temporary lakehouse with one empty table per dataset (its bronze schema) that records what a job reads.

    Spark frames come from the tables' schemas alone (no file is listed or read), so the dry run works the same
    on a local session, a cluster or Spark Connect.
    """

    def __init__(self, root: str, usecase: UseCase) -> None:
        super().__init__(root)
        for dataset in usecase.datasets:
            self.append(dataset.bronze_table, dataset.bronze_schema.empty_table())
        self.read_names: list[str] = []

    def uri(self, name: str) -> str:
        """Location of a table; every table a job touches passes here, so it is recorded."""
        if hasattr(self, "read_names") and name not in self.read_names:
            self.read_names.append(name)
        return super().uri(name)

    def read_spark(self, spark: SparkSession, name: str, version: int | None = None) -> DataFrame:
        """An empty DataFrame with the table's schema."""
        from mlops.spark import arrow_to_spark_schema

        if not self.exists(name):
            raise TableNotFoundError(name)
        return spark.createDataFrame([], arrow_to_spark_schema(self.schema(name)))


def dry_run_usecase(spark: SparkSession, usecase: UseCase, settings: Settings) -> DryRun:
    """Run every feature job and the label rule over empty declared-schema bronze tables and check their outputs.

    Args:
        spark: any session (a local one is enough; nothing is read from the real lakehouse).
        usecase: the use case whose code is checked.
        settings: its settings, handed to the feature jobs.

    Raises:
        UseCaseError: naming the use case, the job (`features.<table>`, `labels.spark`, `labels.pandas`) and the
            problem: a column or table no contract declares, or an output column missing, extra or of another
            type than the catalog declares.
    """
    started = time.perf_counter()
    features = usecase.features
    with tempfile.TemporaryDirectory(prefix="mlops-dry-run-") as root, _quiet_analysis_errors():
        bronze = _EmptyBronze(root, usecase)
        for table in features.tables:
            job, where = features.compute[table.name], f"features.{table.short_name}"
            frame = _analysed(usecase, where, bronze, partial(job, spark, bronze, settings, DRY_RUN_DAY, DRY_RUN_DAY))
            _check_output(usecase, where, frame, features.column_dtypes(table))
        labels = usecase.labels
        frame = _analysed(
            usecase, "labels.spark", bronze, lambda: labels.spark(bronze.read_spark(spark, labels.source))
        )
        _check_labels(usecase, frame)
        _check_pandas_labels(usecase, bronze)
    seconds = time.perf_counter() - started
    log.info(
        "Use case %r: its %d feature jobs and its label rule read only declared columns and return the catalog's "
        "columns (dry run over empty bronze tables, %.1f s)", usecase.name, len(features.tables), seconds,
    )  # fmt: skip
    return DryRun(usecase.name, tuple(t.name for t in features.tables), seconds)


def _analysed(usecase: UseCase, where: str, bronze: _EmptyBronze, call: Callable[[], Any]) -> DataFrame:
    """The DataFrame `call` returns, analysed; any failure becomes one UseCaseError naming `where`."""
    from pyspark.errors import AnalysisException

    bronze.read_names.clear()
    try:
        frame = call()
        frame.schema  # noqa: B018 - forces the analysis (Spark Connect analyses lazily)
    except AnalysisException as exc:
        raise UseCaseError(usecase.name, where, _analysis_problem(usecase, bronze.read_names, exc)) from None
    except TableNotFoundError:
        raise UseCaseError(usecase.name, where, _unknown_table(usecase, bronze)) from None
    except USER_CODE_ERRORS as exc:
        problem = f"fails over empty tables of the declared schemas: {type(exc).__name__}: {exc}"
        raise UseCaseError(usecase.name, where, problem) from exc
    return frame


def _analysis_problem(usecase: UseCase, read_names: list[str], exc: Exception) -> str:
    condition = str(exc.getCondition() or "")  # type: ignore[attr-defined]
    first_line = str(exc).splitlines()[0]
    if not condition.startswith("UNRESOLVED_COLUMN"):
        return f"Spark cannot analyse it over the declared bronze schemas: {first_line}"
    column = str(exc.getMessageParameters().get("objectName", "")).split(".")[-1].strip("`")  # type: ignore[attr-defined]
    datasets = [d for d in usecase.datasets if d.bronze_table in read_names] or list(usecase.datasets)
    if any(column in (c.name for c in d.columns) for d in datasets) or column in INGESTION_NAMES:
        return f"refers to column {column!r} where the frame no longer has it (dropped or renamed?): {first_line}"
    return _undeclared(column, datasets)


def _undeclared(column: str, datasets: list[Dataset]) -> str:
    """`reads column 'x' that datasets.d does not declare (declared: ...)`."""
    if len(datasets) == 1:
        owner = f"datasets.{datasets[0].name} does not declare"
        declared = ", ".join(c.name for c in datasets[0].columns)
    else:
        owner = f"none of {', '.join(f'datasets.{d.name}' for d in datasets)} declares"
        declared = "; ".join(f"{d.name}: {', '.join(c.name for c in d.columns)}" for d in datasets)
    return f"reads column {column!r} that {owner} (declared: {declared}; bronze adds {', '.join(INGESTION_NAMES)})"


def _unknown_table(usecase: UseCase, bronze: _EmptyBronze) -> str:
    unknown = [n for n in bronze.read_names if not bronze.exists(n)]
    declared = ", ".join(d.bronze_table for d in usecase.datasets)
    return f"reads table {unknown[-1] if unknown else '?'!r} that no dataset declares (declared: {declared})"


def _check_output(usecase: UseCase, where: str, frame: DataFrame, expected: dict[str, str]) -> None:
    """The job returns exactly the catalog's columns, each of the catalog's Spark type."""
    got = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    missing = [c for c in expected if c not in got]
    if missing:
        raise UseCaseError(
            usecase.name, where, f"returns no column {missing} that the catalog declares (it returns {list(got)})"
        )
    extra = [c for c in got if c not in expected]
    if extra:
        problem = f"returns columns {extra} that the catalog does not declare; drop them or declare them in the table"
        raise UseCaseError(usecase.name, where, problem)
    wrong = [f"{c} is {got[c]}, the catalog says {t}" for c, t in expected.items() if got[c] != t]
    if wrong:
        raise UseCaseError(usecase.name, where, f"returns other types than the catalog: {'; '.join(wrong)}; cast them")


def _check_labels(usecase: UseCase, frame: DataFrame) -> None:
    """The label rule returns the entity keys, the label and a timestamp `label_known_ts`."""
    got = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    needed = [*usecase.entity.keys, usecase.labels.column, LABEL_KNOWN]
    missing = [c for c in needed if c not in got]
    if missing:
        raise UseCaseError(usecase.name, "labels.spark", f"returns no column {missing} (it returns {list(got)})")
    if got[LABEL_KNOWN] != "timestamp":
        raise UseCaseError(usecase.name, "labels.spark", f"{LABEL_KNOWN} is {got[LABEL_KNOWN]}, not a UTC timestamp")


def _check_pandas_labels(usecase: UseCase, bronze: _EmptyBronze) -> None:
    """The pandas twin of the rule (monitoring) over an empty frame of the source's bronze schema."""
    source = bronze.read(usecase.labels.source).to_pandas()
    try:
        frame = usecase.labels.pandas(source)
    except KeyError as exc:
        datasets = [d for d in usecase.datasets if d.bronze_table == usecase.labels.source]
        raise UseCaseError(usecase.name, "labels.pandas", _undeclared(str(exc.args[0]), datasets)) from None
    except USER_CODE_ERRORS as exc:
        problem = f"fails over an empty frame of the declared schema: {type(exc).__name__}: {exc}"
        raise UseCaseError(usecase.name, "labels.pandas", problem) from exc
    missing = [c for c in (*usecase.entity.keys, usecase.labels.column, LABEL_KNOWN) if c not in frame.columns]
    if missing:
        raise UseCaseError(usecase.name, "labels.pandas", f"returns no column {missing}")


@contextmanager
def _quiet_analysis_errors() -> Iterator[None]:
    """PySpark logs every analysis error it raises with its Java trace; here the refusal's message says it all."""
    logger = logging.getLogger("DataFrameQueryContextLogger")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
