"""Checks on data before a lakehouse write: Arrow conversion, schema enforcement, keys, partitions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlops.errors import Refusal


class SchemaMismatchError(Refusal, ValueError):
    """Incoming data does not match the table's schema; nothing was written."""


def to_arrow(data: Any) -> pa.Table:
    """Arrow table from Arrow, pandas, a Spark/Polars frame (`to_arrow`), or record batches."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if hasattr(data, "iloc"):
        return pa.Table.from_pandas(data, preserve_index=False)
    for method in ("toArrow", "to_arrow"):
        if callable(getattr(data, method, None)):
            return getattr(data, method)()
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        batches = list(data)
        if batches and all(isinstance(b, pa.RecordBatch) for b in batches):
            return pa.Table.from_batches(batches)
    raise TypeError(f"Cannot write {type(data).__name__}; pass Arrow, pandas or Spark data")


def conform_schema(name: str, data: pa.Table, target: pa.Schema) -> pa.Table:
    """Cast `data` to `target`, or raise SchemaMismatchError naming missing, extra and mistyped columns.

    Only lossless casts within a type family are made (int32 -> int64, whole floats -> int, naive
    timestamps -> UTC); strings never become numbers or dates.
    """
    have = set(data.column_names)
    missing, extra = [f.name for f in target if f.name not in have], sorted(have - set(target.names))
    mistyped, nulls, columns = [], [], []
    for field in target:
        if field.name not in have:
            continue
        column = data[field.name]
        if column.type != field.type:
            column = _cast(column, field.type)
            if column is None:
                mistyped.append(f"{field.name} ({data.schema.field(field.name).type}, table has {field.type})")
                continue
        if not field.nullable and column.null_count:
            nulls.append(field.name)
        columns.append(column)
    if missing or extra or mistyped or nulls:
        parts = [
            f"missing columns {missing}" if missing else "",
            f"unexpected columns {extra}" if extra else "",
            f"wrong types {mistyped}" if mistyped else "",
            f"nulls in non-null columns {nulls}" if nulls else "",
        ]
        raise SchemaMismatchError(
            f"Schema mismatch writing {name}: " + "; ".join(p for p in parts if p) + ". The table is unchanged."
        )
    return pa.Table.from_arrays(columns, schema=target)


_FAMILIES: tuple[Callable[[pa.DataType], bool], ...] = (
    lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t),
    lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t),
    lambda t: pa.types.is_timestamp(t) and t.tz is None,
    lambda t: pa.types.is_timestamp(t) and t.tz is not None,
    pa.types.is_date,
    pa.types.is_boolean,
    pa.types.is_decimal,
)


def _cast(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray | None:
    """`column` as `target` when that loses nothing, else None (a naive timestamp is taken as UTC)."""
    source = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    naive_to_utc = pa.types.is_timestamp(source) and source.tz is None and pa.types.is_timestamp(target)
    same_family = any(f(source) and f(target) for f in _FAMILIES) or naive_to_utc
    nested = pa.types.is_nested(source) and type(source) is type(target)
    if not (pa.types.is_null(source) or same_family or nested):
        return None
    try:
        return column.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def check_merge_keys(name: str, data: pa.Table, keys: Sequence[str]) -> None:
    """Refuse a merge source whose keys are missing, null or duplicated (the merge would duplicate rows)."""
    missing = [k for k in keys if k not in data.column_names]
    if missing:
        raise SchemaMismatchError(f"merge into {name}: key columns {missing} are not in the data")
    null_keys = {k: data[k].null_count for k in keys if data[k].null_count}
    if null_keys:
        raise ValueError(f"merge into {name}: key columns have nulls {null_keys}; keys must be non-null")
    unique = data.group_by(list(keys)).aggregate([]).num_rows
    if unique != data.num_rows:
        raise ValueError(f"merge into {name}: {data.num_rows - unique} duplicate rows on keys {list(keys)}")


def check_partition_rows(name: str, data: pa.Table, partition: Mapping[str, Any]) -> None:
    """Refuse rows outside `partition` (they would silently land in another partition).

    A value may be a list or tuple of values: the rows may then be in any of those partitions.
    """
    for column, value in partition.items():
        if column not in data.column_names:
            raise SchemaMismatchError(f"replace_partition on {name}: column {column!r} is not in the data")
        if value is None:
            inside = pc.is_null(data[column])
        else:
            try:
                if isinstance(value, (list, tuple)):
                    inside = pc.is_in(data[column], value_set=pa.array(list(value)).cast(data[column].type))
                else:
                    inside = pc.equal(data[column], pa.scalar(value).cast(data[column].type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise ValueError(f"replace_partition on {name}: {value!r} is not a {data[column].type}") from exc
        outside = data.num_rows - data.filter(inside).num_rows
        if outside:
            raise ValueError(f"replace_partition on {name}: {outside} rows have {column} != {value!r}")


def quote_identifier(column: str) -> str:
    """A SQL identifier for delta-rs predicates (case and odd characters kept)."""
    return '"' + column.replace('"', '""') + '"'


def merge_predicates(keys: Sequence[str], columns: Sequence[str]) -> tuple[str, str | None]:
    """The merge condition on `keys` (aliases t, s) and the "row changed" condition on the other columns."""
    on = " AND ".join(f"t.{quote_identifier(k)} = s.{quote_identifier(k)}" for k in keys)
    others = [c for c in columns if c not in keys]
    changed = " OR ".join(f"(t.{quote_identifier(c)} IS DISTINCT FROM s.{quote_identifier(c)})" for c in others)
    return on, changed or None


def partition_predicate(partition: Mapping[str, Any]) -> str:
    """SQL predicate selecting one partition, e.g. `"date" = '2013-01-01'` (a list of values selects several)."""
    return " AND ".join(sql_equals(column, value) for column, value in partition.items())


def sql_equals(column: str, value: Any) -> str:
    """`column = value` as a delta-rs SQL predicate (IS NULL for None, IN for a list or tuple)."""
    if value is None:
        return f"{quote_identifier(column)} IS NULL"
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"An empty list of values for partition column {column!r} selects nothing")
        literals = ", ".join(sql_equals(column, v).split(" = ", 1)[1] for v in value)
        return f"{quote_identifier(column)} IN ({literals})"
    if isinstance(value, bool):
        literal = str(value).lower()
    elif isinstance(value, (date, datetime, str)):
        text = value.isoformat() if isinstance(value, (date, datetime)) else value
        literal = "'" + text.replace("'", "''") + "'"
    else:
        literal = str(value)
    return f"{quote_identifier(column)} = {literal}"
