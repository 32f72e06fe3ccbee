"""Publish validated predictions: append-only gold.predictions and monitoring.inference_log, once per (date, version).

Each table gets one append per (data date, model version), carrying the Delta application
transaction `predictions/<date>/v<version>` (or `inference_log/...`): a rerun, a retry or a second run
with the same version stores nothing, while another version scoring the same date (after a promotion,
or a backfill) adds its own rows next to the old ones, which stay. Both appends stream from
staging.predictions, so memory stays bounded. monitoring.inference_runs keeps one row per run and
date: what happened (scored, empty, no model, already scored), with which model and engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlops.inference.engines import STAGED_PREDICTIONS
from mlops.inference.outputs import PredictionOutput
from mlops.inference.scoring_set import ENTITY_DATE, input_columns, key_columns
from mlops.lakehouse import WriterId

if TYPE_CHECKING:
    from mlops.lakehouse import Lakehouse, WriteResult
    from mlops.usecase import UseCase

PREDICTIONS = "gold.predictions"
INFERENCE_LOG = "monitoring.inference_log"
INFERENCE_RUNS = "monitoring.inference_runs"
OUTCOMES = ("scored", "already_scored", "empty", "no_model")
LINEAGE = ("model_name", "model_version", "model_run_id", "scored_at", "airflow_run_id")


def prediction_output(usecase: UseCase) -> PredictionOutput:
    """The prediction columns of the use case's model (`mlops.inference.outputs`)."""
    return PredictionOutput(usecase.model.task, usecase.model.classes)


def prediction_columns(usecase: UseCase) -> tuple[str, ...]:
    """Columns of gold.predictions: the entity keys, prediction time, entity date, the task's prediction
    columns (binary: probability, decision, threshold) and the model's lineage."""
    return (*key_columns(usecase), ENTITY_DATE, *prediction_output(usecase).names, *LINEAGE)


def log_columns(usecase: UseCase) -> tuple[str, ...]:
    """Columns of monitoring.inference_log: the keys, the model inputs as scored, the score and the model."""
    extra = (*prediction_output(usecase).logged, "model_name", "model_version", "scored_at")
    return (*key_columns(usecase), ENTITY_DATE, *input_columns(usecase), *extra)


@dataclass(frozen=True)
class Published:
    """The two appends of one (date, version)."""

    predictions: WriteResult
    inference_log: WriteResult

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and asset events."""
        p, i = self.predictions, self.inference_log
        return {
            "table": p.table,
            "version": p.version,
            "rows": p.rows,
            "skipped": p.skipped,
            "inference_log_version": i.version,
            "inference_log_rows": i.rows,
        }


def writer(table: str, day: date, version: str) -> WriterId:
    """The append identity of (table, date, model version)."""
    prefix = "predictions" if table == PREDICTIONS else "inference_log"
    return WriterId(f"{prefix}/{day.isoformat()}/v{version}")


def already_published(lakehouse: Lakehouse, day: date, version: str) -> bool:
    """True when both tables already hold the appends of (day, version)."""
    return all(
        lakehouse.transaction_version(table, writer(table, day, version).app_id) is not None
        for table in (PREDICTIONS, INFERENCE_LOG)
    )


def publish(lakehouse: Lakehouse, usecase: UseCase, day: date, version: str) -> Published:
    """Append the staged predictions of (day, version) to gold.predictions and monitoring.inference_log."""
    results = {}
    for table, columns in ((PREDICTIONS, prediction_columns(usecase)), (INFERENCE_LOG, log_columns(usecase))):
        schema, batches = _staged(lakehouse, day, version, columns)
        results[table] = lakehouse.write_batches(
            table, schema, batches, writer=writer(table, day, version), partition_by=[ENTITY_DATE]
        )
    return Published(results[PREDICTIONS], results[INFERENCE_LOG])


def _staged(lakehouse: Lakehouse, day: date, version: str, columns: tuple[str, ...]) -> tuple[pa.Schema, Any]:
    import pyarrow.dataset as ds

    where = (ds.field(ENTITY_DATE) == pa.scalar(day, pa.date32())) & (ds.field("model_version") == version)
    return lakehouse.scan(STAGED_PREDICTIONS, columns=columns, filter=where)


def record_run(lakehouse: Lakehouse, row: dict[str, Any], run_id: str) -> WriteResult:
    """Append one row to monitoring.inference_runs, once per (Airflow run, date, outcome)."""
    if row.get("outcome") not in OUTCOMES:
        raise ValueError(f"inference run outcome must be one of {OUTCOMES}, got {row.get('outcome')!r}")
    schema = pa.schema(
        [
            pa.field(ENTITY_DATE, pa.date32()),
            pa.field("outcome", pa.string()),
            pa.field("message", pa.string()),
            pa.field("model_name", pa.string()),
            pa.field("model_version", pa.string()),
            pa.field("model_source", pa.string()),
            pa.field("engine", pa.string()),
            pa.field("rows", pa.int64()),
            pa.field("seconds", pa.float64()),
            pa.field("airflow_run_id", pa.string()),
            pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
        ]
    )
    record = {name: row.get(name) for name in schema.names}
    record.update(airflow_run_id=run_id, recorded_at=datetime.now(UTC))
    table = pa.Table.from_pylist([record], schema=schema)
    key = f"inference_runs/{run_id}/{record[ENTITY_DATE]}/{record['outcome']}"
    return lakehouse.append(INFERENCE_RUNS, table, writer=WriterId(key))
