"""The delivery ledger: which landed file each bronze day holds, by content hash, and the corrections to it.

A landed file's identity is the hash of its parsed content (the Arrow table in the dataset's schema order,
rows sorted, written as canonical CSV), not of its bytes: a BOM, CRLF line ends, another column order or
row order of the same data is the same delivery. Each day of a dataset has numbered deliveries; the
latest is `current` and every earlier one `superseded` (by the hash that replaced it). The delivery
number is also the version of the bronze writer `ingest/<dataset>/<day>`, so a bronze write and its
ledger row can be matched up after a crash between the two.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlops.lakehouse import WriterId
from mlops.schemas import UTC_TS

if TYPE_CHECKING:
    from mlops.lakehouse import Lakehouse
    from mlops.usecase import Dataset

LEDGER_TABLE = "audit.landing_deliveries"
LEDGER_KEYS = ("dataset", "date", "delivery")
LEDGER_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("date", pa.date32()),
        ("delivery", pa.int64()),  # 1 for the day's first delivery, + 1 per correction
        ("content_hash", pa.string()),
        ("source_file", pa.string()),
        ("rows", pa.int64()),
        ("bronze_version", pa.int64()),  # the bronze table version that delivery wrote (time travel to it)
        ("run_id", pa.string()),
        ("delivered_at", UTC_TS),
        ("status", pa.string()),  # current | superseded
        ("superseded_by", pa.string()),  # content hash of the delivery that replaced it
    ]
)
CURRENT, SUPERSEDED = "current", "superseded"


@dataclass(frozen=True)
class Delivery:
    """One ledger row: a landed file that was written to bronze for one day of one dataset."""

    dataset: str
    date: date
    delivery: int
    content_hash: str
    source_file: str
    rows: int
    bronze_version: int
    run_id: str
    delivered_at: datetime
    status: str = CURRENT
    superseded_by: str | None = None

    def summary(self) -> dict[str, Any]:
        """Small dict for logs and XCom."""
        return {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in asdict(self).items()}


def ingest_writer(dataset: str, day: date, delivery: int = 1) -> WriterId:
    """The bronze writer of a day's `delivery`-th delivery: app id `ingest/<dataset>/<day>`, version = delivery."""
    return WriterId(app_id=f"ingest/{dataset}/{day.isoformat()}", version=delivery)


def content_hash(table: pa.Table, schema: pa.Schema) -> str:
    """sha256 of `table`'s columns of `schema`, in schema order, rows sorted, as canonical CSV."""
    import pyarrow.csv as pacsv

    data = table.select(schema.names).cast(schema)
    data = data.sort_by([(name, "ascending") for name in schema.names])
    sink = io.BytesIO()
    pacsv.write_csv(data, sink, pacsv.WriteOptions(include_header=True, quoting_style="all_valid"))
    return hashlib.sha256(sink.getvalue()).hexdigest()


def bronze_day_hash(lakehouse: Lakehouse, ds: Dataset, day: date) -> str | None:
    """The content hash of the rows bronze holds for `day` (None when none), comparable with a file's."""
    if not lakehouse.exists(ds.bronze_table):
        return None
    rows = lakehouse.read(ds.bronze_table, columns=ds.schema.names, filters=[("date", "=", day)])
    return content_hash(rows, ds.schema) if rows.num_rows else None


def deliveries(lakehouse: Lakehouse, dataset: str, day: date) -> list[Delivery]:
    """Every recorded delivery of `dataset` for `day`, oldest first."""
    if not lakehouse.exists(LEDGER_TABLE):
        return []
    # Filtered on the date only: a string filter fails on files that merges wrote as string_view.
    rows = lakehouse.read(LEDGER_TABLE, filters=[("date", "=", day)]).to_pylist()
    return sorted((Delivery(**row) for row in rows if row["dataset"] == dataset), key=lambda d: d.delivery)


def record_delivery(lakehouse: Lakehouse, new: Delivery, previous: Delivery | None) -> None:
    """Record `new` as the day's current delivery and `previous` as superseded by it, in one commit.

    Idempotent: recording the same delivery again stores nothing.
    """
    rows = [asdict(new)]
    if previous is not None:
        rows.append(asdict(previous) | {"status": SUPERSEDED, "superseded_by": new.content_hash})
    writer = WriterId(app_id=f"deliveries/{new.dataset}/{new.date.isoformat()}", version=new.delivery)
    table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
    if previous is None:  # the usual case, a day's first delivery: an append is the cheaper commit
        lakehouse.append(LEDGER_TABLE, table, writer=writer)
    else:
        lakehouse.merge(LEDGER_TABLE, table, keys=LEDGER_KEYS, writer=writer)


def new_delivery(
    dataset: str, day: date, number: int, digest: str, source: str, rows: int, version: int, run_id: str
) -> Delivery:
    """A current ledger row stamped now."""
    return Delivery(dataset, day, number, digest, source, rows, version, run_id, datetime.now(UTC))
