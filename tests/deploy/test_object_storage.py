"""The lakehouse on object storage: Delta tables in an S3 bucket through delta-rs, reports on a filesystem.

S3 is played by moto's server on loopback (`moto_server`, a separate process: delta-rs holds the
GIL while it waits on the network, so an in-process server would deadlock). delta-rs reads the same
`AWS_*` variables a deployment sets (docker-compose.yaml: `x-mlops-env`).
"""

from __future__ import annotations

import os
import re
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from mlops.config import LakehouseSettings, load_settings
from mlops.ingestion import QUARANTINE_TABLE, IngestionError, ingest_day
from mlops.lakehouse import Lakehouse, SchemaMismatchError, WriterId
from mlops.landing import landing_path
from scripts.stack import Services, free_port, wait_for_port
from usecases.flight_delay.source import land_day

BUCKET = "mlops-lake"
DAY, BAD_DAY = date(2013, 1, 1), date(2013, 1, 2)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server with one bucket; the AWS_* environment a deployment would set."""
    import boto3

    port = free_port()
    services = Services(tmp_path_factory.mktemp("moto"))
    services.start(
        "moto", [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], dict(os.environ)
    )
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ALLOW_HTTP": "true",
        }.items():
            patch.setenv(key, value)
        try:
            wait_for_port(port, services, minutes=1)
            client = boto3.client("s3")
            client.create_bucket(Bucket=BUCKET)
            yield client
        finally:
            services.stop()


def _keys(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_tables_live_in_the_bucket_with_the_same_guarantees(s3, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written to a local "s3:" folder by mistake would land here
    lake = Lakehouse(f"s3://{BUCKET}/tables")
    day1 = pa.table({"date": [DAY] * 3, "id": [1, 2, 3], "x": [1.0, 2.0, 3.0]})

    first = lake.append("bronze.t", day1, writer=WriterId("ingest/t/2013-01-01"), partition_by=["date"])
    again = lake.append("bronze.t", day1, writer=WriterId("ingest/t/2013-01-01"), partition_by=["date"])
    assert (first.skipped, again.skipped, lake.read("bronze.t").num_rows) == (False, True, 3)

    update = pa.table({"date": [DAY, DAY], "id": [3, 4], "x": [30.0, 4.0]})
    lake.merge("bronze.t", update, keys=["date", "id"])
    assert sorted(lake.read("bronze.t").to_pydict()["x"]) == [1.0, 2.0, 4.0, 30.0]
    assert lake.read("bronze.t", version=0).num_rows == 3  # time travel on S3

    replaced = pa.table({"date": [DAY], "id": [9], "x": [9.0]})
    lake.replace_partition("bronze.t", replaced, partition={"date": [DAY]})
    assert lake.read("bronze.t").to_pydict()["id"] == [9]

    version = lake.version("bronze.t")
    with pytest.raises(SchemaMismatchError, match="x"):
        lake.append("bronze.t", pa.table({"date": [DAY], "id": [1], "x": ["not a number"]}))
    assert lake.version("bronze.t") == version and lake.read("bronze.t").num_rows == 1

    keys = _keys(s3, "tables/bronze/t/")
    assert any(k.startswith("tables/bronze/t/_delta_log/") for k in keys)
    assert any(k.startswith("tables/bronze/t/date=2013-01-01/") and k.endswith(".parquet") for k in keys)
    assert not any(tmp_path.iterdir())


def test_ingestion_writes_bronze_to_the_bucket_and_reports_to_the_filesystem(s3, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lake_settings = LakehouseSettings(
        root=f"s3://{BUCKET}/staging",
        landing_root=str(tmp_path / "landing"),
        reports_root=str(tmp_path / "reports"),
    )
    base = load_settings("staging")  # files are read as soon as landed: the landing protocol has its own tests
    quality = base.quality.model_copy(update={"landing_stable_seconds": 0})
    settings = base.model_copy(update={"lakehouse": lake_settings, "quality": quality})
    lake = Lakehouse.from_settings(settings)
    land_day(settings, DAY, datasets=("flights",))
    land_day(settings, BAD_DAY, datasets=("flights",))

    result = ingest_day(settings, lake, "flights", DAY, "run-1")
    assert not result.skipped and lake.read("bronze.flights").num_rows == result.rows > 100
    assert ingest_day(settings, lake, "flights", DAY, "run-2").skipped  # idempotent on S3 too
    assert any((tmp_path / "reports" / "_quality").rglob("*.json")), "GX results on the filesystem"

    bad = landing_path(settings, "flights", BAD_DAY)
    bad.write_text("not,the,header\n1,2,3\n")
    version = lake.version("bronze.flights")
    with pytest.raises(IngestionError, match=re.escape(str(bad))):
        ingest_day(settings, lake, "flights", BAD_DAY, "run-3")
    assert lake.version("bronze.flights") == version  # nothing of the bad file reached bronze
    assert [r["date"] for r in lake.read(QUARANTINE_TABLE).to_pylist()] == [BAD_DAY]
    assert any(k.startswith("staging/quarantine/landing_files/_delta_log/") for k in _keys(s3, "staging/"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "reports"]  # no local "s3:" folder
