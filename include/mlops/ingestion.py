"""Landing zone to bronze: only complete files, strict CSV parsing, the raw quality gate, quarantine of bad files,
idempotent writes, corrections of a day by a re-delivered file."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlops.deliveries import (
    LEDGER_TABLE,
    Delivery,
    bronze_day_hash,
    content_hash,
    deliveries,
    ingest_writer,
    new_delivery,
    record_delivery,
)
from mlops.errors import Refusal
from mlops.features.stale import mark_stale
from mlops.lakehouse import Lakehouse, WriteResult, WriterId
from mlops.landing import done_marker, landing_path, require_complete, require_unchanged
from mlops.landing_csv import LandingFileError, read_landing_bytes, read_landing_file
from mlops.quality.pipeline_gates import quality_store
from mlops.schemas import INGESTION_COLUMNS, UTC_TS
from mlops.usecase import Dataset, usecase_of

if TYPE_CHECKING:
    from mlops.config import Settings
    from mlops.features.catalog import FeatureTable
    from mlops.quality.gate import GateResult

log = logging.getLogger(__name__)

QUARANTINE_TABLE = "quarantine.landing_files"
QUARANTINE_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("date", pa.date32()),
        ("source_file", pa.string()),
        ("quarantined_path", pa.string()),
        ("reason", pa.string()),
        ("expectation", pa.string()),
        ("column", pa.string()),
        ("run_id", pa.string()),
        ("quarantined_at", UTC_TS),
    ]
)


class IngestionError(Refusal, ValueError):
    """A landing file was refused and quarantined; nothing was written to bronze."""

    def __init__(self, message: str, *, path: Path, expectation: str, column: str | None) -> None:
        super().__init__(message)
        self.path, self.expectation, self.column = path, expectation, column


@dataclass(frozen=True)
class IngestResult:
    """What `ingest_day` did to the bronze table."""

    table: str
    version: int
    rows: int
    skipped: bool
    source_file: str
    corrected: bool = False  # a re-delivery with other content replaced the day's earlier delivery
    stale_dates: int = 0  # published feature dates it marked stale (summed over tables)

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and asset-event metadata."""
        return asdict(self)


# ---- validation and quarantine -------------------------------------------------------------------
def validate_landing(
    settings: Settings,
    dataset: str,
    day: date,
    run_id: str,
    *,
    lakehouse: Lakehouse | None = None,
    build_docs: bool = True,
) -> GateResult:
    """Read the day's landing file and run the raw suite in fail mode (Data Docs always built on failure).

    Raises:
        FileNotFoundError: no file for that day (the message says if it was quarantined earlier).
        LandingFileIncomplete: the file is still being written or changed while read (retry later).
        IngestionError: the file was unreadable or failed the gate; it was quarantined.
    """
    return _validate(settings, lakehouse or Lakehouse.from_settings(settings), dataset, day, run_id, build_docs)[1]


def _validate(
    settings: Settings, lakehouse: Lakehouse, dataset: str, day: date, run_id: str, build_docs: bool = True
) -> tuple[pa.Table, GateResult]:
    from mlops.quality.gate import run_gate, to_gate_frame
    from mlops.quality.landing_rules import check_landing_rules, recent_row_counts
    from mlops.quality.suites import raw_suite

    path = landing_path(settings, dataset, day)  # validates the dataset name
    ds = usecase_of(settings).dataset(dataset)
    if not path.exists() and not path.is_symlink():
        moved = quarantine_path(settings, dataset, day, path)
        note = f"; it was quarantined earlier to {moved}" if moved.exists() else ""
        raise FileNotFoundError(f"No landing file for {dataset} {day.isoformat()}: {path} does not exist{note}")
    if not path.is_file():  # a directory or a dangling link is refused at once, never waited for
        try:
            read_landing_bytes(path)
        except LandingFileError as exc:
            raise _refuse(settings, lakehouse, ds, day, path, run_id, _unreadable(exc), str(exc)) from exc
    # The last guard of the landing protocol: a file still being written is waited for, never refused.
    seen = require_complete(path, settings.quality.landing_stable_seconds)
    try:
        table = read_landing_file(path, ds)
    except LandingFileError as exc:
        require_unchanged(path, seen)  # a file that grew while read is not bad, only not done
        raise _refuse(settings, lakehouse, ds, day, path, run_id, _unreadable(exc), str(exc)) from exc
    require_unchanged(path, seen)
    broken = check_landing_rules(table, ds, recent_row_counts(lakehouse, ds, day))
    gate = run_gate(
        to_gate_frame(table),
        raw_suite(ds, day),
        mode="fail",
        store_dir=quality_store(settings),
        asset_name=f"raw_{ds.name}",
        build_docs=build_docs,
    )
    if not gate.success or broken:
        rows = [(f.describe(), f.expectation_type, ", ".join(f.columns) or None) for f in gate.failed]
        rows += [(f.describe(), f.rule, ", ".join(f.columns) or None) for f in broken]
        lines = [gate.message()] if not gate.success else [f"Contract rules failed on {gate.rows} rows"]
        lines += [f"  - [rule] {f.describe()}" for f in broken]
        raise _refuse(settings, lakehouse, ds, day, path, run_id, rows, f"{path}: " + "\n".join(lines))
    return table, gate


def validate_landing_dates(
    settings: Settings, lakehouse: Lakehouse, dataset: str, dates: list[date], run_id: str
) -> GateResult | None:
    """The raw gate of several days' landing files of `dataset` (a run over many dates) in one GX validation.

    Each file is taken, read and checked against its contract's rules as `validate_landing` does; then the rows
    of all of them go through `raw_range_suite` as one batch, each row checked against its own file's date,
    so the batch passes only if every file passes its own suite. That is one validation instead of one per
    day (a 21-day run of three datasets: 3 instead of 63). Returns its result (Data Docs built) when all pass; None,
    having stored and quarantined nothing, when any file is missing, incomplete, unreadable or breaks a rule,
    or the batch fails: the caller then validates the days one by one, which names and quarantines each bad
    file (and raises what a missing or incomplete one raises).
    """
    from mlops.landing import LandingFileIncomplete
    from mlops.quality.gate import run_gate, to_gate_frame
    from mlops.quality.landing_rules import check_landing_rules, recent_row_counts
    from mlops.quality.suites import raw_range_suite, with_landing_dates

    ds = usecase_of(settings).dataset(dataset)
    tables = []
    for day in dates:
        path = landing_path(settings, dataset, day)
        try:
            seen = require_complete(path, settings.quality.landing_stable_seconds)
            table = read_landing_file(path, ds)
            require_unchanged(path, seen)
        except (OSError, LandingFileError, LandingFileIncomplete):
            return None
        if check_landing_rules(table, ds, recent_row_counts(lakehouse, ds, day)):
            return None
        tables.append(table)
    frame = with_landing_dates(
        to_gate_frame(pa.concat_tables(tables)), ds, [(day, t.num_rows) for day, t in zip(dates, tables, strict=True)]
    )
    gate = run_gate(
        frame,
        raw_range_suite(ds, dates),
        mode="fail",
        store_dir=quality_store(settings),
        asset_name=f"raw_{ds.name}",
        keep_refused=False,
    )
    return gate if gate.success else None


def _unreadable(exc: LandingFileError) -> list[tuple[str, str, str | None]]:
    return [(str(exc), f"landing_file.{exc.problem}", exc.column)]


def quarantine_path(settings: Settings, dataset: str, day: date, path: Path) -> Path:
    """`<landing_root>/_quarantine/<dataset>/date=YYYY-MM-DD/<file>`: where a refused file is moved."""
    root = Path(settings.lakehouse.landing_root) / "_quarantine" / dataset / f"date={day.isoformat()}"
    return root / Path(path).name


def quarantine_file(
    settings: Settings,
    lakehouse: Lakehouse,
    dataset: str,
    day: date,
    path: Path,
    *,
    run_id: str,
    failures: list[tuple[str, str, str | None]],
) -> Path:
    """Move a refused file (and its done marker) out of the landing path and record it, one row per (reason,
    expectation, column).

    Idempotent: a second call for the same file and run moves nothing and records nothing new.
    """
    target = quarantine_path(settings, dataset, day, path)
    if Path(path).exists() or Path(path).is_symlink():  # a dangling link is moved too
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    if done_marker(path).exists():  # a stale marker would pass a re-delivery off as complete at once
        os.replace(done_marker(path), done_marker(target))
    now = datetime.now(UTC)
    records = [
        dict(zip(QUARANTINE_SCHEMA.names, (dataset, day, str(path), str(target), *failure, run_id, now), strict=True))
        for failure in failures
    ]
    writer = WriterId(app_id=f"quarantine/{dataset}/{day.isoformat()}/{run_id}", version=1)
    lakehouse.append(QUARANTINE_TABLE, pa.Table.from_pylist(records, schema=QUARANTINE_SCHEMA), writer=writer)
    log.warning("Quarantined %s to %s (%s)", path, target, "; ".join(f[1] for f in failures))
    return target


def _refuse(
    settings: Settings,
    lakehouse: Lakehouse,
    ds: Dataset,
    day: date,
    path: Path,
    run_id: str,
    failures: list[tuple[str, str, str | None]],
    detail: str,
) -> IngestionError:
    target = quarantine_file(settings, lakehouse, ds.name, day, path, run_id=run_id, failures=failures)
    message = (
        f"Refused {ds.name} landing file for {day.isoformat()}; nothing written to {ds.bronze_table}. {detail}\n"
        f"The file was moved to {target} and recorded in {QUARANTINE_TABLE}; fix the delivery and land it again."
    )
    return IngestionError(message, path=path, expectation=failures[0][1], column=failures[0][2])


# ---- bronze --------------------------------------------------------------------------------------
def ingest_day(settings: Settings, lakehouse: Lakehouse, dataset: str, day: date, run_id: str) -> IngestResult:
    """Validate the day's landing file and write it to bronze with lineage columns, once per delivery.

    The first delivery is appended (partitioned by `date`; a whole-table snapshot dataset, `per_day=False`,
    is merged on its keys) under the writer `ingest/<dataset>/<day>` and recorded in the delivery ledger.
    A rerun whose file has the same content (`deliveries.content_hash`: a BOM, CRLF, column or row order
    variant is the same) stores nothing (`skipped=True`); so does a rerun whose file has been moved away.
    A file with other content is a correction: validated like any file (a bad one is quarantined and
    nothing changes), it replaces the day's partition in one commit (a snapshot is merged again and the
    rows only the old delivery held are deleted), the old delivery is recorded as superseded, and the
    published feature dates computed from the day are marked stale for the next feature refresh.

    Raises:
        FileNotFoundError: no landing file for a day never ingested.
        LandingFileIncomplete: the file is still being written or changed while read; nothing was written or
            quarantined, and a retry reads it once complete.
        IngestionError: the file was refused by parsing or the raw gate (and quarantined).
    """
    source = landing_path(settings, dataset, day)  # validates the dataset name
    usecase = usecase_of(settings)
    ds = usecase.dataset(dataset)
    applied = lakehouse.transaction_version(ds.bronze_table, ingest_writer(dataset, day).app_id) or 0
    previous = None
    if applied:
        incoming = _incoming_hash(settings, source, ds)
        previous = _current_delivery(settings, lakehouse, ds, day, applied, incoming, run_id)
        if incoming is None or incoming == previous.content_hash:
            log.info("%s for %s already ingested into %s (delivery %d); skipping", dataset, day, ds.bronze_table,
                     previous.delivery)  # fmt: skip
            return IngestResult(ds.bronze_table, lakehouse.version(ds.bronze_table), 0, True, str(source))
        log.warning("%s for %s re-delivered with other content than delivery %d (%s): correcting %s",
                    dataset, day, previous.delivery, previous.source_file, ds.bronze_table)  # fmt: skip
    # Validated again (the file may have changed since the gate task); its Data Docs were built there.
    table, _ = _validate(settings, lakehouse, dataset, day, run_id, build_docs=False)
    written = _write_bronze(lakehouse, ds, _with_lineage(table, ds, day, source, run_id), day, applied + 1)
    log.info("Ingested %s rows of %s into %s v%s", written.rows, source, ds.bronze_table, written.version)
    if written.skipped:  # a concurrent run wrote this delivery first; it records it
        return IngestResult(ds.bronze_table, written.version, 0, True, str(source))
    digest = content_hash(table, ds.schema)
    delivery = new_delivery(dataset, day, applied + 1, digest, str(source), table.num_rows, written.version, run_id)
    record_delivery(lakehouse, delivery, previous)
    stale = _mark_downstream(lakehouse, usecase.features.tables, ds, delivery) if previous else {}
    return IngestResult(ds.bronze_table, written.version, written.rows, False, str(source), previous is not None,
                        sum(len(d) for d in stale.values()))  # fmt: skip


def _incoming_hash(settings: Settings, source: Path, ds: Dataset) -> str | None:
    """The content hash of the landed file; None when there is none; `unreadable` when it does not parse (the
    validation that follows quarantines it)."""
    if not source.exists():
        return None
    seen = require_complete(source, settings.quality.landing_stable_seconds)
    try:
        table = read_landing_file(source, ds)
    except LandingFileError:
        return "unreadable"
    require_unchanged(source, seen)
    return content_hash(table, ds.schema)


def _current_delivery(
    settings: Settings, lakehouse: Lakehouse, ds: Dataset, day: date, applied: int, incoming: str | None, run_id: str
) -> Delivery:
    """The ledger's current delivery of the day, recorded first if bronze holds a delivery the ledger lacks
    (ingested before the ledger existed, or the task stopped between the bronze write and the ledger row)."""
    known = deliveries(lakehouse, ds.name, day)
    if known and known[-1].delivery >= applied:
        return known[-1]
    previous = known[-1] if known else None
    # A per-day dataset's bronze partition is the delivery; a snapshot's rows are mixed, so the file stands in.
    digest = bronze_day_hash(lakehouse, ds, day) if ds.per_day else incoming
    version = lakehouse.version(ds.bronze_table)
    late = new_delivery(ds.name, day, applied, digest or "unknown", "(recorded late)", 0, version, run_id)
    record_delivery(lakehouse, late, previous)
    if previous is not None:
        _mark_downstream(lakehouse, usecase_of(settings).features.tables, ds, late)
    log.warning("%s %s: bronze delivery %d was not in %s; recorded it", ds.name, day, applied, LEDGER_TABLE)
    return late


def _write_bronze(lakehouse: Lakehouse, ds: Dataset, bronze: pa.Table, day: date, delivery: int) -> WriteResult:
    """Write the day's `delivery`-th delivery in one commit carrying its writer (so a rerun stores nothing)."""
    writer = ingest_writer(ds.name, day, delivery)
    if ds.per_day and delivery == 1:
        return lakehouse.append(ds.bronze_table, bronze, writer=writer, partition_by=["date"])
    if ds.per_day:
        return lakehouse.replace_partition(ds.bronze_table, bronze, partition={"date": day}, writer=writer)
    if delivery == 1:
        return lakehouse.merge(ds.bronze_table, bronze, keys=ds.keys, writer=writer)
    # A corrected snapshot: rows a later snapshot already rewrote stay theirs; the day's rows the corrected
    # snapshot no longer has are deleted in the same commit.
    newer = lakehouse.read(ds.bronze_table, columns=list(ds.keys), filters=[("date", ">", day)])
    bronze = bronze.join(newer, list(ds.keys), join_type="left anti") if newer.num_rows else bronze
    return lakehouse.merge(ds.bronze_table, bronze, keys=ds.keys, writer=writer, delete_unmatched={"date": day})


def _mark_downstream(
    lakehouse: Lakehouse, tables: tuple[FeatureTable, ...], ds: Dataset, delivery: Delivery
) -> dict[str, list[date]]:
    reason = f"delivery {delivery.delivery} of {ds.name} {delivery.date} (sha256 {delivery.content_hash[:12]})"
    return mark_stale(lakehouse, tables, ds.bronze_table, delivery.date, snapshot=not ds.per_day, reason=reason)


def _with_lineage(table: pa.Table, ds: Dataset, day: date, source: Path, run_id: str) -> pa.Table:
    values = (day, str(source), datetime.now(UTC), run_id)  # one per lineage column, in schema order
    lineage = [pa.array([v] * table.num_rows, f.type) for v, f in zip(values, INGESTION_COLUMNS, strict=True)]
    return pa.Table.from_arrays(list(table.columns) + lineage, schema=ds.bronze_schema)


def ingest_dates(settings: Settings, lakehouse: Lakehouse, dataset: str, dates: list[date], run_id: str) -> dict:
    """`ingest_day` for each date of a run, in order (each with its own application transaction); one summary
    for the run (rows summed; skipped when every date was already ingested)."""
    results = []
    for day in dates:
        results.append(ingest_day(settings, lakehouse, dataset, day, run_id))
        log.info("Ingested %s for %s: %s", dataset, day, results[-1].summary())
    summary = results[-1].summary()
    if len(results) > 1:
        rows, skipped = sum(r.rows for r in results), all(r.skipped for r in results)
        summary = {**summary, "days": len(results), "rows": rows, "skipped": skipped}
    return summary
