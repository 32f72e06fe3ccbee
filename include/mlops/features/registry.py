"""The feature registry: which feature tables exist, their keys, and each feature's definition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureDefinition:
    """One feature column: what it means, who owns it, its type and plausible range."""

    name: str
    description: str
    dtype: str  # Spark SQL type name: "double", "bigint", "string", "int", "boolean"
    owner: str = "ml-platform"
    min_value: float | None = None
    max_value: float | None = None
    max_null_fraction: float = 0.05


@dataclass(frozen=True)
class FeatureTable:
    """A silver feature table keyed by entity columns and a feature timestamp."""

    name: str  # lakehouse name, "features.<table>"
    entity: tuple[str, ...]  # entity key columns, e.g. ("carrier",)
    timestamp_column: str  # when the values became valid (UTC); the PIT join reads "as of" this
    features: tuple[FeatureDefinition, ...]
    description: str
    owner: str = "ml-platform"
    date_column: str = "feature_date"  # partition column: the logical date that produced the row

    @property
    def keys(self) -> tuple[str, ...]:
        """Merge keys: entity plus feature timestamp."""
        return (*self.entity, self.timestamp_column)

    @property
    def short_name(self) -> str:
        """Table name without the layer, used for task ids and staging tables."""
        return self.name.split(".", 1)[1]


# FEATURE_TABLES (the registry itself) is defined alongside the Spark definitions.
