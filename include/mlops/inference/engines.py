"""Two scoring engines behind one call: Spark (`mlflow.pyfunc.spark_udf`) and in-process Arrow streaming.

Both read the date's staged scoring set, check it against the model's signature before anything is
written, feed the pyfunc model the same typed columns (so their scores are identical), and replace the
(date, model version) partition of staging.predictions, where the predictions gate reads them before
they are published. The prediction columns follow the task type (`mlops.inference.outputs`).

- `spark`: the model runs inside Spark's Python workers through `spark_udf` (Arrow-batched); use it
  when the data needs a cluster. With the delta-spark jars the write is distributed too.
- `arrow`: record batches stream from the Delta table through the model and into the Delta writer
  in this process; memory stays bounded by `inference.batch_rows` whatever the day's size.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlops.errors import Refusal
from mlops.inference.outputs import LINEAGE_FIELDS, PredictionOutput
from mlops.inference.scoring_set import ENTITY_DATE, SCORING_SET
from mlops.spark import delta_spark_available
from mlops.training.estimator import model_input_frame, pyfunc_scores

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.inference.pinning import ScoringModel
    from mlops.lakehouse import Lakehouse, WriteResult

log = logging.getLogger(__name__)

STAGED_PREDICTIONS = "staging.predictions"
ENGINES = ("spark", "arrow")
_OUTPUT = "_model_output"  # the Spark engine's temporary column of the pyfunc UDF's result


class SignatureMismatchError(Refusal, ValueError):
    """The scoring set's columns do not fit the model's input signature; nothing was written."""


@dataclass(frozen=True)
class ScoreRequest:
    """One scoring run: which model, which date, the threshold (binary), the caller's run id, and what the
    model's output becomes (`PredictionOutput(usecase.model.task, usecase.model.classes)`)."""

    model: ScoringModel
    day: date
    threshold: float
    run_id: str
    output: PredictionOutput
    batch_rows: int = 131_072


@dataclass(frozen=True)
class ScoreResult:
    """What an engine wrote to staging.predictions."""

    engine: str
    rows: int
    seconds: float
    write: WriteResult

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and asset events."""
        return {
            "engine": self.engine,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "version": self.write.version,
        }


def model_signature(model: ScoringModel) -> dict[str, str]:
    """Input column -> MLflow type name (`string`, `double`, ...) from the registered model's signature.

    Raises:
        SignatureMismatchError: the model was logged without an input signature.
    """
    from mlflow.models import get_model_info

    signature = get_model_info(model.uri).signature
    if signature is None or signature.inputs is None:
        raise SignatureMismatchError(f"{model.name} v{model.version} has no input signature: cannot check its inputs")
    return {spec.name: _type_name(spec.type) for spec in signature.inputs.inputs}


@functools.lru_cache(maxsize=2)
def _load_pyfunc(tracking_uri: str, uri: str) -> Any:
    """The pyfunc model of a pinned version, loaded once per process and registry (a run over many dates
    scores each with it; `models:/<name>/<version>` never changes, unlike an alias)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)


def _type_name(dtype: Any) -> str:
    return str(getattr(dtype, "name", dtype)).lower()


def check_signature(model: ScoringModel, signature: dict[str, str], schema: pa.Schema) -> None:
    """Refuse to score when a signature input is absent from the scoring set or has an incompatible type.

    Raises:
        SignatureMismatchError: naming the missing and the mistyped columns.
    """
    missing = [c for c in signature if c not in schema.names]
    mistyped = []
    for column, kind in signature.items():
        if column in schema.names and not _compatible(kind, schema.field(column).type):
            mistyped.append(f"{column} (model expects {kind}, scoring set has {schema.field(column).type})")
    if missing or mistyped:
        parts = [f"missing columns {missing}" if missing else "", f"wrong types {mistyped}" if mistyped else ""]
        raise SignatureMismatchError(
            f"Features do not match the signature of {model.name} v{model.version}: "
            + "; ".join(p for p in parts if p)
            + f". Scoring set columns: {schema.names}. Nothing was written."
        )


def _compatible(kind: str, arrow_type: pa.DataType) -> bool:
    if kind == "string":
        return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if kind in ("double", "float", "long", "integer"):
        return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    if kind == "boolean":
        return pa.types.is_boolean(arrow_type)
    if kind == "datetime":
        return pa.types.is_timestamp(arrow_type)
    return False


def choose_engine(settings: Settings, rows: int) -> str:
    """The configured engine; `auto` picks arrow below `inference.spark_min_rows`, spark from there."""
    engine = settings.inference.engine
    if engine != "auto":
        return engine
    return "spark" if rows >= settings.inference.spark_min_rows else "arrow"


def scoring_schema(lakehouse: Lakehouse) -> pa.Schema:
    """Schema of the staged scoring set."""
    return lakehouse.schema(SCORING_SET)


def predictions_schema(scoring: pa.Schema, output: PredictionOutput) -> pa.Schema:
    """staging.predictions: the scoring set's columns, then the task's prediction columns and the lineage."""
    return pa.schema([*[f.with_nullable(True) for f in scoring], *output.fields, *LINEAGE_FIELDS])


def score(lakehouse: Lakehouse, request: ScoreRequest, engine: str, spark: SparkSession | None = None) -> ScoreResult:
    """Score the staged scoring set of `request.day` with `engine` into staging.predictions.

    Raises:
        SignatureMismatchError: before any write, when the features do not fit the model.
        ValueError: an unknown engine, or spark without a session.
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown scoring engine {engine!r}; use one of {', '.join(ENGINES)}")
    schema = scoring_schema(lakehouse)
    signature = model_signature(request.model)
    check_signature(request.model, signature, schema)
    started = time.monotonic()
    if engine == "spark":
        if spark is None:
            raise ValueError("The spark scoring engine needs a SparkSession")
        write = _score_spark(spark, lakehouse, request, signature, schema)
    else:
        write = _score_arrow(lakehouse, request, signature, schema)
    result = ScoreResult(engine, write.rows, time.monotonic() - started, write)
    log.info(
        "Scored %d rows of %s with %s v%s (%s engine) in %.1fs",
        result.rows, request.day, request.model.name, request.model.version, engine, result.seconds,
    )  # fmt: skip
    return result


def _partition(request: ScoreRequest) -> dict[str, Any]:
    return {ENTITY_DATE: request.day, "model_version": request.model.version}


def _lineage(request: ScoreRequest, engine: str, rows: int, scored_at: datetime) -> list[pa.Array]:
    model = request.model
    constants = [model.name, model.version, model.run_id, engine, scored_at, request.run_id]
    return [pa.array([value] * rows, type=f.type) for value, f in zip(constants, LINEAGE_FIELDS, strict=True)]


def _score_arrow(
    lakehouse: Lakehouse, request: ScoreRequest, signature: dict[str, str], schema: pa.Schema
) -> WriteResult:
    import mlflow.pyfunc
    import pyarrow.dataset as ds

    model = _load_pyfunc(mlflow.get_tracking_uri(), request.model.uri)
    output = request.output
    columns, out_schema = list(signature), predictions_schema(schema, output)
    scored_at = datetime.now(UTC)
    on_day = ds.field(ENTITY_DATE) == pa.scalar(request.day, pa.date32())
    _, batches = lakehouse.scan(SCORING_SET, filter=on_day, batch_rows=request.batch_rows)

    def scored() -> Iterator[pa.RecordBatch]:
        done = 0
        for batch in batches:
            inputs = model_input_frame(batch.select(columns).to_pandas(), columns, signature)
            scores = output.arrays(pyfunc_scores(output.task, model.predict(inputs)), request.threshold)
            arrays = [*batch.columns, *scores, *_lineage(request, "arrow", batch.num_rows, scored_at)]
            done += batch.num_rows
            log.info("arrow engine: %d rows scored", done)
            yield pa.RecordBatch.from_arrays(arrays, schema=out_schema)

    return lakehouse.write_batches(
        STAGED_PREDICTIONS,
        out_schema,
        scored(),
        partition=_partition(request),
        partition_by=[ENTITY_DATE, "model_version"],
    )


def _score_spark(
    spark: SparkSession, lakehouse: Lakehouse, request: ScoreRequest, signature: dict[str, str], schema: pa.Schema
) -> WriteResult:
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    output = request.output
    udf = mlflow.pyfunc.spark_udf(spark, request.model.uri, result_type=output.spark_result_type(), env_manager="local")
    rows = lakehouse.read_spark(spark, SCORING_SET).where(F.col(ENTITY_DATE) == F.lit(request.day))
    inputs = [F.col(c).cast("string" if kind == "string" else "double").alias(c) for c, kind in signature.items()]
    model, scored_at = request.model, datetime.now(UTC)
    lineage = {
        "model_name": F.lit(model.name),
        "model_version": F.lit(model.version),
        "model_run_id": F.lit(model.run_id),
        "engine": F.lit("spark"),
        "scored_at": F.lit(scored_at).cast("timestamp"),
        "airflow_run_id": F.lit(request.run_id),
    }
    scored = rows.withColumn(_OUTPUT, udf(F.struct(*inputs)))
    scored = scored.select(
        *schema.names,
        *output.spark_columns(F.col(_OUTPUT), request.threshold),
        *[value.alias(name) for name, value in lineage.items()],
    )
    if delta_spark_available(spark):  # the executors write the Delta table themselves
        return lakehouse.write_spark(
            scored,
            STAGED_PREDICTIONS,
            mode="replace_partition",
            partition=_partition(request),
            partition_by=[ENTITY_DATE, "model_version"],
        )
    # Without the jars, the executors write Parquet to scratch space and delta-rs streams it into one
    # commit: nothing is collected to the driver, so the day's size is not capped by driver memory or
    # spark.driver.maxResultSize (collecting 3.4M scored rows exceeds the 1 GB default).
    import pyarrow.dataset as ds

    out_schema = predictions_schema(schema, output)
    with tempfile.TemporaryDirectory(prefix="mlops-scored-") as folder:
        scored.write.mode("overwrite").parquet(folder)
        files = ds.dataset(folder, format="parquet")
        batches = (b for b in files.to_batches(batch_size=request.batch_rows, batch_readahead=1) if b.num_rows)
        return lakehouse.write_batches(
            STAGED_PREDICTIONS,
            out_schema,
            batches,
            partition=_partition(request),
            partition_by=[ENTITY_DATE, "model_version"],
        )
