"""The feature catalog types: feature tables, their keys, and each feature's definition (name, type, range, owner)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_OWNER = "ml-platform"


@dataclass(frozen=True)
class FeatureDefinition:
    """One feature column: what it means, who owns it, its type and plausible range."""

    name: str
    description: str
    dtype: str  # Spark SQL type name: "double", "bigint", "string", "int", "boolean", "timestamp"
    owner: str = DEFAULT_OWNER
    min_value: float | None = None
    max_value: float | None = None
    max_null_fraction: float = 0.05
    model_input: bool = True  # False: carried for joins or audit (a join key, a timestamp), not fed to models


@dataclass(frozen=True)
class FeatureTable:
    """A silver feature table keyed by entity columns and a feature timestamp."""

    name: str  # lakehouse name, "features.<table>"
    entity: tuple[str, ...]  # entity key columns, e.g. ("store_id",)
    timestamp_column: str  # when the values became valid (UTC); the PIT join reads "as of" this
    features: tuple[FeatureDefinition, ...]
    description: str
    owner: str = DEFAULT_OWNER
    date_column: str = "feature_date"  # partition column: the logical date that produced the row
    max_age_hours: int | None = None  # default staleness limit in the PIT join; None: settings' default
    # Which bronze tables the computation reads (empty: assume every one) and how many days of a per-day
    # table before the feature date a day's rows read: a corrected bronze day D makes the feature dates
    # D .. D + lookback_days stale (a corrected whole-table snapshot: every published date from D on).
    sources: tuple[str, ...] = ()
    lookback_days: int = 0

    def __post_init__(self) -> None:
        if self.lookback_days < 0:
            raise ValueError(f"Feature table {self.name}: lookback_days must be >= 0, got {self.lookback_days}")

    def reads(self, bronze_table: str) -> bool:
        """Whether the table's computation reads `bronze_table` (a table declaring no sources reads every one)."""
        return not self.sources or bronze_table in self.sources

    @property
    def keys(self) -> tuple[str, ...]:
        """Merge keys: entity plus feature timestamp."""
        return (*self.entity, self.timestamp_column)

    @property
    def short_name(self) -> str:
        """Table name without the layer, used for task ids and staging tables."""
        return self.name.split(".", 1)[1]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every stored column, in storage order: keys, non-key features, partition date."""
        extra = tuple(f.name for f in self.features if f.name not in self.keys)
        return (*self.keys, *extra, self.date_column)

    @property
    def joined_features(self) -> tuple[FeatureDefinition, ...]:
        """Features the PIT join attaches (entity columns already sit on the entity rows)."""
        return tuple(f for f in self.features if f.name not in self.entity)


def feature_docs_markdown(tables: Sequence[FeatureTable]) -> str:
    """A markdown table of every registered feature, for Airflow `doc_md` and training-run notes."""
    lines = [
        "| table | feature | dtype | description | range | max null | owner |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for table in tables:
        for f in table.features:
            low = "" if f.min_value is None else f"{f.min_value:g}"
            high = "" if f.max_value is None else f"{f.max_value:g}"
            span = f"[{low}, {high}]" if low or high else ""
            note = "" if f.model_input else " (not a model input)"
            lines.append(
                f"| {table.name} | {f.name} | {f.dtype} | {f.description}{note} | {span} | "
                f"{f.max_null_fraction:g} | {f.owner} |"
            )
    return "\n".join(lines)
