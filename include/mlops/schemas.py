"""Arrow types the platform stores: ingestion lineage columns and the contract's type names."""

from __future__ import annotations

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

# Columns added by ingestion to every bronze table (lineage of each row).
INGESTION_COLUMNS = pa.schema(
    [
        ("date", pa.date32()),  # the landing partition's data date; bronze tables are partitioned by it
        ("_source_file", pa.string()),
        ("_ingested_at", UTC_TS),
        ("_run_id", pa.string()),
    ]
)

# Arrow types of the landing contract's column types (usecase.Column.dtype).
CONTRACT_TO_ARROW = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "timestamp": UTC_TS,
    "date": pa.date32(),
    "bool": pa.bool_(),
}

# Arrow types of the Spark SQL type names used by the feature catalog (FeatureDefinition.dtype).
SPARK_TO_ARROW = {
    "string": pa.string(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "timestamp": UTC_TS,
    "date": pa.date32(),
}


def arrow_type(dtype: str) -> pa.DataType:
    """The Arrow type of a contract column type name; ValueError names the unknown type."""
    try:
        return CONTRACT_TO_ARROW[dtype]
    except KeyError:
        raise ValueError(f"Unknown column type {dtype!r}; use one of {', '.join(CONTRACT_TO_ARROW)}") from None
