"""SparkSession creation (local, cluster or Spark Connect) and the Spark side of lakehouse reads and writes."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse, WriteResult, WriterId

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
DELTA_SPARK_CLASS = "io.delta.tables.DeltaTable"
WRITE_MODES = ("append", "merge", "replace_partition")
LOG4J_CONFIG = Path(__file__).resolve().parents[1] / "config" / "spark-log4j2.properties"


def get_spark(
    settings: Settings,
    *,
    master: str | None = None,
    remote: str | None = None,
    app_name: str = "mlops",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Get or create the process's SparkSession.

    Args:
        settings: environment settings (local master, shuffle partitions, driver memory).
        master: cluster master URL (`spark://host:7077`); defaults to the settings' local master.
        remote: Spark Connect URL (`sc://host:15002`); takes precedence over `master`.
        app_name: shown in the Spark UI.
        conf: extra Spark configuration.
    """
    # Workers must run this interpreter, or they will not find the project's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    builder = builder.remote(remote) if remote else builder.master(master or settings.spark.master)
    options = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # read_table hands Spark explicit file lists; listing them with a Spark job only adds latency.
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "1024",
    }
    if not remote:
        # Settings a Spark Connect server owns (and refuses from a client) are set only in local mode.
        options["spark.ui.showConsoleProgress"] = "false"
        options["spark.driver.memory"] = settings.spark.driver_memory
        options["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}"
        if os.environ.get("MLOPS_DELTA_JARS"):
            options["spark.jars"] = os.environ["MLOPS_DELTA_JARS"]  # comma-separated jar paths
        if _delta_jars_present():
            options["spark.sql.extensions"] = DELTA_EXTENSION
            options["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG
    for key, value in {**options, **(conf or {})}.items():
        builder = builder.config(key, value)
    # py4j logs every connection at INFO, which drowns task logs (and fails noisily at shutdown).
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark = builder.getOrCreate()
    if not remote:
        spark.sparkContext.setLogLevel("WARN")
    return spark


def _delta_jars_present() -> bool:
    """The container image puts delta-spark jars in SPARK_HOME/jars or names them in MLOPS_DELTA_JARS."""
    if os.environ.get("MLOPS_DELTA_JARS"):
        return True
    spark_home = os.environ.get("SPARK_HOME")
    if not spark_home or not os.path.isdir(os.path.join(spark_home, "jars")):
        return False
    return any(name.startswith("delta-spark") for name in os.listdir(os.path.join(spark_home, "jars")))


def arrow_to_spark_schema(schema: pa.Schema) -> StructType:
    """Spark schema for an Arrow schema (timestamps stay timestamps, dates stay dates)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def spark_to_arrow_schema(schema: StructType) -> pa.Schema:
    """Arrow schema for a Spark schema, timestamps as UTC instants (the lakehouse convention)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def delta_spark_available(spark: SparkSession) -> bool:
    """True when the Delta Spark data source classes are on the session's classpath."""
    from py4j.protocol import Py4JError

    jvm = getattr(spark, "_jvm", None)  # None for Spark Connect, whose server decides
    if jvm is None:
        return False
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()  # sees jars added by spark.jars
        jvm.java.lang.Class.forName(DELTA_SPARK_CLASS, False, loader)
    except Py4JError:
        return False
    return True


def read_table(lakehouse: Lakehouse, spark: SparkSession, name: str, version: int | None = None) -> DataFrame:
    """A Spark DataFrame of a table: the Delta data source if available, else the table's active files.

    Without delta-spark, delta-rs resolves the snapshot (which files are live at `version`) and Spark
    reads exactly those Parquet files, recovering partition columns from their Hive-style paths.
    """
    if delta_spark_available(spark):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(lakehouse.uri(name))
    dt = lakehouse.table(name, version=version)
    arrow_schema = pa.schema(dt.schema().to_arrow())
    schema = arrow_to_spark_schema(arrow_schema)
    files = dt.file_uris()
    if not files:
        return spark.createDataFrame([], schema)
    frame = spark.read.schema(schema).option("basePath", lakehouse.uri(name)).parquet(*files)
    return frame.select(*arrow_schema.names)  # partition columns back in table order


def write_table(
    lakehouse: Lakehouse,
    df: DataFrame,
    name: str,
    *,
    mode: str,
    keys: Sequence[str] | None,
    partition: Mapping[str, Any] | None,
    partition_by: Sequence[str] | None,
    writer: WriterId | None,
) -> WriteResult:
    """`Lakehouse.write_spark`: delta-spark when its jars are present, else Spark computes and delta-rs commits."""
    if mode not in WRITE_MODES:
        raise ValueError(f"write_spark to {name}: mode must be one of {', '.join(WRITE_MODES)}, got {mode!r}")
    if mode == "merge" and not keys:
        raise ValueError(f"write_spark merge into {name} needs key columns")
    if mode == "replace_partition" and not partition:
        raise ValueError(f"write_spark replace_partition on {name} needs a partition, e.g. {{'date': ...}}")
    if delta_spark_available(df.sparkSession):
        return write_with_delta_spark(
            lakehouse, df, name, mode=mode, keys=keys, partition=partition, partition_by=partition_by, writer=writer
        )
    arrow = df.toArrow()
    # Delta Spark stores every column as nullable; do the same so both engines create the same table.
    arrow = arrow.cast(pa.schema([field.with_nullable(True) for field in arrow.schema]))
    if mode == "append":
        return lakehouse.append(name, arrow, writer=writer, partition_by=partition_by)
    if mode == "merge":
        return lakehouse.merge(name, arrow, keys=keys or (), partition_by=partition_by, writer=writer)
    return lakehouse.replace_partition(name, arrow, partition=partition or {}, partition_by=partition_by)


def write_with_delta_spark(
    lakehouse: Lakehouse,
    df: DataFrame,
    name: str,
    *,
    mode: str,
    keys: Sequence[str] | None,
    partition: Mapping[str, Any] | None,
    partition_by: Sequence[str] | None,
    writer: WriterId | None,
) -> WriteResult:
    """The same three write modes through the Delta Spark data source (jars on the classpath)."""
    from mlops.lakehouse import WriteResult, conform_schema

    exists = lakehouse.exists(name)
    if exists:
        # Same schema enforcement and message as the delta-rs path, checked on the schema alone.
        conform_schema(name, spark_to_arrow_schema(df.schema).empty_table(), lakehouse.schema(name))
        done = lakehouse.transaction_version(name, writer.app_id) if writer is not None else None
        if writer is not None and done is not None and done >= writer.version:
            return WriteResult(name, lakehouse.version(name), 0, mode, skipped=True)
    rows = df.count()
    if mode == "merge" and exists:
        _merge_with_delta_spark(df, lakehouse.uri(name), keys or (), writer)
        return WriteResult(name, lakehouse.version(name), rows, mode)
    out = df.write.format("delta")
    if writer is not None:
        out = out.option("txnAppId", writer.app_id).option("txnVersion", writer.version)
    if mode == "replace_partition" and exists:
        where = " AND ".join(_spark_equals(column, value) for column, value in (partition or {}).items())
        out.mode("overwrite").option("replaceWhere", where).save(lakehouse.uri(name))
    else:
        columns = partition_by or (list(partition or {}) if mode == "replace_partition" else None)
        (out.partitionBy(*columns) if columns else out).mode("append").save(lakehouse.uri(name))
    return WriteResult(name, lakehouse.version(name), rows, mode)


def _merge_with_delta_spark(df: DataFrame, uri: str, keys: Sequence[str], writer: WriterId | None) -> None:
    """MERGE on keys, updating only rows that changed; the writer's txn goes through the session conf."""
    from delta.tables import DeltaTable as SparkDeltaTable

    spark = df.sparkSession
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in df.columns if c not in keys) or None
    if writer is not None:  # DataFrameWriter options do not reach MERGE; these confs do, for one commit
        spark.conf.set("spark.databricks.delta.write.txnAppId", writer.app_id)
        spark.conf.set("spark.databricks.delta.write.txnVersion", str(writer.version))
    try:
        merger = SparkDeltaTable.forPath(spark, uri).alias("t").merge(df.alias("s"), on)
        merger = merger.whenMatchedUpdateAll(condition=changed) if changed else merger
        merger.whenNotMatchedInsertAll().execute()
    finally:
        if writer is not None:
            spark.conf.unset("spark.databricks.delta.write.txnAppId")
            spark.conf.unset("spark.databricks.delta.write.txnVersion")


def _spark_equals(column: str, value: Any) -> str:
    """`column = value` in Spark SQL (backtick identifiers, quoted literals; IN for a list or tuple)."""
    if value is None:
        return f"`{column}` IS NULL"
    if isinstance(value, (list, tuple)):
        return f"`{column}` IN (" + ", ".join(_spark_equals(column, v).split(" = ", 1)[1] for v in value) + ")"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return f"`{column}` = '" + text.replace("'", "\\'") + "'"
    return f"`{column}` = {value}"
