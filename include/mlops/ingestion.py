"""Landing zone to bronze: only complete files, strict CSV parsing, the raw quality gate, quarantine of bad files,
idempotent writes."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlops.errors import Refusal
from mlops.lakehouse import Lakehouse, WriterId
from mlops.landing import done_marker, landing_path, require_complete, require_unchanged
from mlops.quality.pipeline_gates import quality_store
from mlops.schemas import INGESTION_COLUMNS, UTC_TS
from mlops.usecase import Dataset, usecase_of

if TYPE_CHECKING:
    from mlops.config import Settings
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
_CONVERSION = re.compile(
    r"In CSV column #(?P<index>\d+): CSV conversion error to (?P<type>.+?): invalid value '(?P<value>.*)'"
)
_NULL_VALUES = ["", "NA", "NaN", "null"]


class LandingFileError(Refusal, ValueError):
    """A landing file cannot be read as its dataset's CSV; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str, detail: str, column: str | None = None) -> None:
        super().__init__(f"Landing file {path} is unreadable ({problem}): {detail}")
        self.path, self.problem, self.detail, self.column = path, problem, detail, column


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

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and asset-event metadata."""
        return asdict(self)


# ---- reading -----------------------------------------------------------------------------------
def read_landing_file(path: Path, dataset: Dataset) -> pa.Table:
    """Parse a landing CSV strictly into `dataset.schema` (column order and types).

    Raises:
        FileNotFoundError: the file does not exist.
        LandingFileError: empty, binary/compressed, not UTF-8, wrong delimiter, missing or extra
            columns, malformed rows, or a value that does not parse as its column's type.
    """
    path = Path(path)
    raw = path.read_bytes()
    text = _decode(path, raw)
    lines = text.splitlines()
    header = next(csv.reader(lines[:1]), [])
    _check_header(path, dataset, header)
    if not any(line.strip() for line in lines[1:]):
        raise LandingFileError(path, "empty", "header only, no data rows")
    return _parse(path, dataset, text.encode("utf-8"))


def _decode(path: Path, raw: bytes) -> str:
    if not raw:
        raise LandingFileError(path, "empty", "0 bytes")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise LandingFileError(path, "encoding", "UTF-16 byte-order mark; files must be UTF-8")
    if raw[:2] == b"\x1f\x8b" or raw[:4] == b"PK\x03\x04":
        raise LandingFileError(path, "corrupt", "compressed (gzip/zip) bytes, expected a plain CSV")
    head = raw[:4096]
    if b"\x00" in head:
        utf16 = head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4
        problem = ("encoding", "UTF-16 text without BOM") if utf16 else ("corrupt", "binary content (NUL bytes)")
        raise LandingFileError(path, problem[0], f"{problem[1]}; expected a UTF-8 CSV")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LandingFileError(
            path, "encoding", f"not UTF-8: byte {raw[exc.start : exc.start + 1]!r} at line {line}"
        ) from None


def _check_header(path: Path, dataset: Dataset, header: list[str]) -> None:
    expected = list(dataset.schema.names)
    first = ",".join(header)
    if len(header) <= 1 or ";" in first or "\t" in first:
        raise LandingFileError(
            path, "delimiter", f"header {first[:80]!r} is not comma-separated; expected {','.join(expected[:4])},..."
        )
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    if missing:
        raise LandingFileError(path, "missing_columns", f"missing columns {missing}", column=missing[0])
    if extra or len(header) != len(set(header)):
        extra = extra or sorted({c for c in header if header.count(c) > 1})
        raise LandingFileError(path, "extra_columns", f"unexpected or repeated columns {extra}", column=extra[0])


def _parse(path: Path, dataset: Dataset, data: bytes) -> pa.Table:
    import pyarrow.csv as pacsv

    types = {f.name: f.type for f in dataset.schema}
    options = pacsv.ConvertOptions(column_types=types, null_values=_NULL_VALUES, strings_can_be_null=True)
    try:
        table = pacsv.read_csv(io.BytesIO(data), convert_options=options)
    except pa.ArrowInvalid as exc:
        raise _conversion_error(path, dataset, data, str(exc)) from None
    return pa.Table.from_arrays([table[name] for name in dataset.schema.names], schema=dataset.schema)


def _conversion_error(path: Path, dataset: Dataset, data: bytes, error: str) -> LandingFileError:
    """Name the column, the bad value and its row (1-based data row) from Arrow's message."""
    import pyarrow.csv as pacsv

    match = _CONVERSION.search(error)
    if not match:
        return LandingFileError(path, "malformed", error.splitlines()[0][:300])
    header = next(csv.reader(io.StringIO(data[:4096].decode("utf-8", "replace"))))
    column, value = header[int(match["index"])], match["value"]
    as_text = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(column_types={column: pa.string()}, include_columns=[column]),
    )[column].to_pylist()
    row = as_text.index(value) + 1 if value in as_text else "?"
    detail = f"column {column!r} value {value!r} (data row {row}) is not a valid {dataset.schema.field(column).type}"
    return LandingFileError(path, "type", detail, column=column)


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
    from mlops.quality.suites import raw_suite

    path = landing_path(settings, dataset, day)  # validates the dataset name
    ds = usecase_of(settings).dataset(dataset)
    if not path.exists():
        moved = quarantine_path(settings, dataset, day, path)
        note = f"; it was quarantined earlier to {moved}" if moved.exists() else ""
        raise FileNotFoundError(f"No landing file for {dataset} {day.isoformat()}: {path} does not exist{note}")
    # The last guard of the landing protocol: a file still being written is waited for, never refused.
    seen = require_complete(path, settings.quality.landing_stable_seconds)
    try:
        table = read_landing_file(path, ds)
    except LandingFileError as exc:
        require_unchanged(path, seen)  # a file that grew while read is not bad, only not done
        rows = [(str(exc), f"landing_file.{exc.problem}", exc.column)]
        raise _refuse(settings, lakehouse, ds, day, path, run_id, rows, str(exc)) from exc
    require_unchanged(path, seen)
    gate = run_gate(
        to_gate_frame(table),
        raw_suite(ds, day),
        mode="fail",
        store_dir=quality_store(settings),
        asset_name=f"raw_{ds.name}",
        build_docs=build_docs,
    )
    if not gate.success:
        rows = [(f.describe(), f.expectation_type, ", ".join(f.columns) or None) for f in gate.failed]
        raise _refuse(settings, lakehouse, ds, day, path, run_id, rows, f"{path}: {gate.message()}")
    return table, gate


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
    if Path(path).exists():
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
    """Validate the day's landing file and write it to bronze with lineage columns, once.

    Appends (partitioned by `date`) under the writer `ingest/<dataset>/<day>` so a rerun stores
    nothing (`skipped=True`); a whole-table snapshot dataset (`per_day=False`) is merged on its keys instead.

    Raises:
        FileNotFoundError: no landing file for that day.
        LandingFileIncomplete: the file is still being written or changed while read; nothing was written or
            quarantined, and a retry reads it once complete.
        IngestionError: the file was refused by parsing or the raw gate (and quarantined).
    """
    source = landing_path(settings, dataset, day)  # validates the dataset name
    ds = usecase_of(settings).dataset(dataset)
    writer = WriterId(app_id=f"ingest/{dataset}/{day.isoformat()}", version=1)
    if _already_ingested(lakehouse, ds.bronze_table, writer):
        log.info("%s for %s already ingested into %s; skipping", dataset, day, ds.bronze_table)
        return IngestResult(ds.bronze_table, lakehouse.version(ds.bronze_table), 0, True, str(source))
    # Validated again (the file may have changed since the gate task); its Data Docs were built there.
    table, _ = _validate(settings, lakehouse, dataset, day, run_id, build_docs=False)
    bronze = _with_lineage(table, ds, day, source, run_id)
    if not ds.per_day:
        written = lakehouse.merge(ds.bronze_table, bronze, keys=ds.keys, writer=writer)
    else:
        written = lakehouse.append(ds.bronze_table, bronze, writer=writer, partition_by=["date"])
    log.info("Ingested %s rows of %s into %s v%s", written.rows, source, ds.bronze_table, written.version)
    return IngestResult(ds.bronze_table, written.version, written.rows, written.skipped, str(source))


def _already_ingested(lakehouse: Lakehouse, table: str, writer: WriterId) -> bool:
    if not lakehouse.exists(table):
        return False
    committed = lakehouse.table(table).transaction_version(writer.app_id)
    return committed is not None and committed >= writer.version


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
