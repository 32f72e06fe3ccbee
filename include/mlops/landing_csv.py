"""Reading one landing CSV strictly by its dataset's contract: the path, bytes, header, null spellings and types.

Every refusal is a `LandingFileError` naming the file and the problem (and the column, value and data row when
one cell is at fault), so the caller can quarantine the file with that reason.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from mlops.errors import Refusal

if TYPE_CHECKING:
    from mlops.usecase import Column, Dataset

_SHOWN = 60  # characters of a bad value shown in a message


class LandingFileError(Refusal, ValueError):
    """A landing file cannot be read as its dataset's CSV; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str, detail: str, column: str | None = None) -> None:
        super().__init__(f"Landing file {path} is unreadable ({problem}): {detail}")
        self.path, self.problem, self.detail, self.column = path, problem, detail, column


def read_landing_file(path: Path, dataset: Dataset) -> pa.Table:
    """Parse a landing CSV strictly into `dataset.schema` (the contract's column order and types).

    Header names are matched after trimming whitespace and case-folding, in any order. A cell is null only
    when it is one of its column's `nulls` spellings; every other cell must parse as the column's type, and a
    float column holds no NaN or infinity (`nan`, `inf` are values Arrow would parse, not declared nulls).

    Raises:
        FileNotFoundError: nothing at `path`.
        LandingFileError: not a readable regular file (a directory, a dangling symbolic link, no permission),
            empty, binary/compressed, not UTF-8, wrong delimiter, missing, extra or repeated columns,
            malformed rows, or a value that does not parse as its column's type.
    """
    path = Path(path)
    text = _decode(path, read_landing_bytes(path))
    lines = text.splitlines()
    header = next(csv.reader(lines[:1]), [])
    names = match_header(path, dataset, header)
    if not any(line.strip() for line in lines[1:]):
        raise LandingFileError(path, "empty", "header only, no data rows")
    return _parse(path, dataset, text.encode("utf-8"), names)


def read_landing_bytes(path: Path) -> bytes:
    """The file's bytes; a directory, a dangling symbolic link or an unreadable file is a `LandingFileError`.

    Raises:
        FileNotFoundError: nothing at `path`.
        LandingFileError: something other than a readable regular file is there.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise LandingFileError(path, "not_a_file", f"a symbolic link to {os.readlink(path)!r}, which does not exist")
    if path.is_dir():
        raise LandingFileError(path, "not_a_file", "a directory, expected a CSV file")
    if path.exists() and not path.is_file():
        raise LandingFileError(path, "not_a_file", "not a regular file (a device, pipe or socket)")
    try:
        return path.read_bytes()
    except PermissionError:
        raise LandingFileError(path, "unreadable", "permission denied; the platform must be able to read it") from None
    except IsADirectoryError:
        raise LandingFileError(path, "not_a_file", "a directory, expected a CSV file") from None


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


def match_header(path: Path, dataset: Dataset, header: list[str]) -> list[str]:
    """The contract's name of each header cell, in file order (matched after trimming and case-folding).

    Raises:
        LandingFileError: not comma-separated, or columns missing, unexpected or repeated; the message shows
            the header seen.
    """
    expected = list(dataset.schema.names)
    first = ",".join(header)
    seen = f"; header seen: {_shown(first, 300)}"
    if len(header) <= 1 or ";" in first or "\t" in first:
        detail = f"header {_shown(first, 80)} is not comma-separated; expected {','.join(expected[:4])},..."
        raise LandingFileError(path, "delimiter", detail)
    by_key = {name.casefold(): name for name in expected}
    keys = [cell.strip().casefold() for cell in header]
    missing = [name for name in expected if name.casefold() not in keys]
    if missing:
        raise LandingFileError(path, "missing_columns", f"missing columns {missing}{seen}", column=missing[0])
    extra = [cell for cell, key in zip(header, keys, strict=True) if key not in by_key]
    repeated = sorted({by_key[key] for key in keys if key in by_key and keys.count(key) > 1})
    if extra or repeated:
        what = f"unexpected columns {extra}" if extra else f"repeated columns {repeated}"
        raise LandingFileError(path, "extra_columns", f"{what}{seen}", column=(extra or repeated)[0])
    return [by_key[key] for key in keys]


def _parse(path: Path, dataset: Dataset, data: bytes, names: list[str]) -> pa.Table:
    """Read every cell as text, then give each column its nulls and its type."""
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=max(1 << 20, len(data) + 1))
    as_text = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), null_values=[], strings_can_be_null=False
    )
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=as_text)
    except pa.ArrowInvalid as exc:
        raise LandingFileError(path, "malformed", str(exc).splitlines()[0][:300]) from None
    columns = [_typed(path, column, table[column.name].combine_chunks()) for column in dataset.columns]
    return pa.Table.from_arrays(columns, schema=dataset.schema)


def _typed(path: Path, column: Column, text: pa.Array) -> pa.Array:
    """The column's values as its type: its null spellings become null, anything else must parse."""
    import pyarrow.compute as pc

    from mlops.schemas import arrow_type

    target = arrow_type(column.dtype)
    if column.dtype != "string":
        text = pc.utf8_trim_whitespace(text)  # " 12" is 12, as any CSV reader takes it
    is_null = pc.is_in(text, value_set=pa.array(column.nulls, pa.string()))
    cleaned = pc.if_else(is_null, pa.scalar(None, pa.string()), text)
    try:
        typed = cleaned.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row = _first_unparsable(cleaned, target)
        raise _cell_error(path, column, cleaned[row].as_py(), row, f"is not a valid {target}") from None
    if pa.types.is_floating(target):
        not_finite = pc.fill_null(pc.invert(pc.is_finite(typed)), False)
        if pc.any(not_finite).as_py():
            row = pc.index(not_finite, True).as_py()
            raise _cell_error(path, column, text[row].as_py(), row, "is not a finite number")
    return typed


def _first_unparsable(values: pa.Array, target: pa.DataType) -> int:
    for row, value in enumerate(values.to_pylist()):
        try:
            pa.array([value], pa.string()).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return row
    return 0


def _cell_error(path: Path, column: Column, value: str, row: int, problem: str) -> LandingFileError:
    nulls = ", ".join(repr(n) for n in column.nulls) or "none"
    detail = f"column {column.name!r} value {_shown(value)} (data row {row + 1}) {problem} (null spellings: {nulls})"
    return LandingFileError(path, "type", detail, column=column.name)


def _shown(value: str, limit: int = _SHOWN) -> str:
    """`repr` of a value, cut to `limit` characters with its length when longer."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"
