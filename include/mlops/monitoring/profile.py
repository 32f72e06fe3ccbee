"""Reference profiles: what the champion learned from, as binned counts that current data is compared with.

A numeric feature is summarised by quantile bin edges of the reference data (open-ended outer bins,
so any current value has a bin) with the count per bin; a categorical feature by its most frequent
categories (the rest pooled as `__other__`) with their counts. Nulls are counted apart. Current data
is binned with the reference's edges and categories by streaming Arrow batches (`BinCounter`), so
drift needs counts, never a full copy of the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

OTHER = "__other__"
PREDICTION = "prediction"  # the profile entry of the model's predicted probability
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureProfile:
    """Binned distribution of one column."""

    name: str
    kind: Kind
    counts: tuple[int, ...]  # per bin (numeric) or per category, OTHER last (categorical)
    nulls: int
    edges: tuple[float, ...] = ()  # numeric: len(counts) + 1 edges, the outer ones -inf / +inf
    categories: tuple[str, ...] = ()  # categorical: the reference's top categories, then OTHER
    mean: float | None = None  # numeric: reference mean and std (the Wasserstein distance is normalised by std)
    std: float | None = None
    sums: tuple[float, ...] = ()  # numeric: sum of the values in each bin (the bin's mean locates its mass)

    @property
    def rows(self) -> int:
        """Rows profiled, nulls included."""
        return int(sum(self.counts)) + self.nulls

    def locations(self) -> np.ndarray:
        """Where each numeric bin's mass sits: the mean of its values, else its centre (empty bins)."""
        centers = self.centers()
        if not self.sums:
            return centers
        counts, sums = np.asarray(self.counts, "float64"), np.asarray(self.sums, "float64")
        return np.where(counts > 0, sums / np.maximum(counts, 1), centers)

    def centers(self) -> np.ndarray:
        """A representative value per numeric bin: the midpoint, the inner edge for the open outer bins."""
        edges = np.asarray(self.edges, dtype="float64")
        inner = edges[1:-1]
        if inner.size == 0:
            return np.array([self.mean or 0.0])
        mids = (edges[1:-2] + edges[2:-1]) / 2 if inner.size > 1 else np.array([], dtype="float64")
        return np.concatenate([[inner[0]], mids, [inner[-1]]])


@dataclass(frozen=True)
class ReferenceProfile:
    """The profile of a model's training data and predictions."""

    model_name: str
    features: tuple[FeatureProfile, ...]
    source: str = ""  # what was profiled, e.g. "training set 2013-01-01..2013-01-21 (6,123 rows)"
    meta: dict[str, Any] = field(default_factory=dict)

    def feature(self, name: str) -> FeatureProfile:
        """The profile of column `name`."""
        for profile in self.features:
            if profile.name == name:
                return profile
        raise KeyError(f"No reference profile for {name!r}; profiled: {[p.name for p in self.features]}")

    def to_json(self) -> str:
        """JSON text (the MLflow artifact)."""
        return json.dumps(asdict(self), indent=1, default=_plain)

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        """Parse `to_json` output."""
        raw = json.loads(text)
        features = tuple(
            FeatureProfile(**{**f, **{k: tuple(f[k]) for k in ("counts", "edges", "categories", "sums")}})
            for f in raw["features"]
        )
        return cls(raw["model_name"], features, raw.get("source", ""), raw.get("meta", {}))


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def numeric_profile(name: str, values: np.ndarray, bins: int) -> FeatureProfile:
    """Quantile bins of `values` (NaN = null): at most `bins` bins, fewer when values repeat."""
    values = np.asarray(values, dtype="float64")
    present = values[~np.isnan(values)]
    nulls = int(values.size - present.size)
    if present.size == 0:
        return FeatureProfile(name, "numeric", (0,), nulls, (-np.inf, np.inf), sums=(0.0,))
    inner = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    index = _bin_index(edges, present)
    counts = np.bincount(index, minlength=len(edges) - 1)
    sums = np.bincount(index, weights=present, minlength=len(edges) - 1)
    return FeatureProfile(
        name, "numeric", tuple(int(c) for c in counts), nulls, tuple(float(e) for e in edges),
        mean=float(present.mean()), std=float(present.std()), sums=tuple(float(x) for x in sums),
    )  # fmt: skip


def categorical_profile(name: str, values: Sequence[Any], top: int) -> FeatureProfile:
    """The `top` most frequent categories (ties by name) and OTHER for the rest."""
    import pandas as pd

    series = pd.Series(values, dtype="object")
    nulls = int(series.isna().sum())
    frequencies = series.dropna().astype(str).value_counts()
    ordered = sorted(frequencies.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [k for k, _ in ordered[:top]]
    other = int(sum(v for _, v in ordered[top:]))
    counts = tuple(int(frequencies[k]) for k in kept) + (other,)
    return FeatureProfile(name, "categorical", counts, nulls, categories=(*kept, OTHER))


def profile_frame(
    frame: pd.DataFrame, categorical: Iterable[str], *, bins: int = 20, top: int = 30, columns: Iterable[str]
) -> tuple[FeatureProfile, ...]:
    """Profiles of `columns` of a pandas frame (a training set: small enough to hold)."""
    kinds = set(categorical)
    out = []
    for name in columns:
        if name in kinds:
            out.append(categorical_profile(name, frame[name].tolist(), top))
        else:
            out.append(numeric_profile(name, frame[name].to_numpy(dtype="float64", na_value=np.nan), bins))
    return tuple(out)


def _bin_index(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Bin of each value: bin i holds edges[i] < v <= edges[i + 1] (right-closed, like quantiles)."""
    return np.clip(np.searchsorted(edges, values, side="left") - 1, 0, len(edges) - 2)


class BinCounter:
    """Counts current values into a reference profile's bins, one Arrow batch at a time."""

    def __init__(self, reference: FeatureProfile) -> None:
        self.reference = reference
        self.counts = np.zeros(len(reference.counts), dtype="int64")
        self.sums = np.zeros(len(reference.counts), dtype="float64")
        self.nulls = 0
        self._edges = np.asarray(reference.edges, dtype="float64")
        self._index = {c: i for i, c in enumerate(reference.categories[:-1])} if reference.kind == "categorical" else {}

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        """Add one batch's column (numbers or strings; nulls counted apart)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(column, pa.ChunkedArray):
            for chunk in column.chunks:
                self.add(chunk)
            return
        self.nulls += column.null_count
        if self.reference.kind == "numeric":
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            values = values[~np.isnan(values)]
            index = _bin_index(self._edges, values)
            self.counts += np.bincount(index, minlength=self.counts.size)
            self.sums += np.bincount(index, weights=values, minlength=self.counts.size)
            return
        frequencies = pc.value_counts(pc.cast(column.drop_null(), pa.string()))
        other = len(self.counts) - 1
        for value, count in zip(
            frequencies.field("values").to_pylist(), frequencies.field("counts").to_pylist(), strict=True
        ):
            self.counts[self._index.get(value, other)] += count

    def profile(self) -> FeatureProfile:
        """The current data's profile in the reference's bins."""
        ref = self.reference
        sums = tuple(float(x) for x in self.sums) if ref.kind == "numeric" else ()
        return FeatureProfile(
            ref.name, ref.kind, tuple(int(c) for c in self.counts), int(self.nulls), ref.edges, ref.categories,
            sums=sums,
        )  # fmt: skip
