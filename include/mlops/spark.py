"""SparkSession creation (local, cluster or Spark Connect) and the delta-spark write path."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
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
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if not remote:
        options["spark.driver.memory"] = settings.spark.driver_memory
        if _delta_jars_present():
            options["spark.sql.extensions"] = DELTA_EXTENSION
            options["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG
    for key, value in {**options, **(conf or {})}.items():
        builder = builder.config(key, value)
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
    from delta.tables import DeltaTable as SparkDeltaTable

    from mlops.lakehouse import WriteResult, conform_schema

    uri = lakehouse.uri(name)
    if lakehouse.exists(name):
        # Same schema enforcement and message as the delta-rs path, checked on the schema alone.
        conform_schema(
            name, pa.table({f.name: pa.array([], f.type) for f in _spark_to_arrow(df)}), lakehouse.schema(name)
        )
    rows = df.count()
    if writer is not None and lakehouse.exists(name):
        done = lakehouse.table(name).transaction_version(writer.app_id)
        if done is not None and done >= writer.version:
            return WriteResult(name, lakehouse.version(name), 0, mode, skipped=True)
    out = df.write.format("delta")
    if writer is not None:
        out = out.option("txnAppId", writer.app_id).option("txnVersion", writer.version)
    if mode == "merge" and lakehouse.exists(name):
        cond = " AND ".join(f"t.{k} = s.{k}" for k in keys or ())
        (
            SparkDeltaTable.forPath(df.sparkSession, uri)
            .alias("t")
            .merge(df.alias("s"), cond)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
    elif mode == "replace_partition" and lakehouse.exists(name):
        where = " AND ".join(f"{c} = '{v}'" for c, v in (partition or {}).items())
        out.mode("overwrite").option("replaceWhere", where).save(uri)
    else:
        if partition_by:
            out = out.partitionBy(*partition_by)
        out.mode("append").save(uri)
    return WriteResult(name, lakehouse.version(name), rows, mode)


def _spark_to_arrow(df: DataFrame) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema)
