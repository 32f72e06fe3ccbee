"""Drift statistics from binned counts (reference vs current), with scipy doing the statistics.

Per numeric column: PSI over the reference's deciles, the Wasserstein distance between the two
binned distributions normalised by the reference's standard deviation, and the two-sample
Kolmogorov-Smirnov statistic on the binned CDFs with its p-value. Per categorical column: PSI over the
categories, the Jensen-Shannon distance (natural log) and the chi-square test of homogeneity.
A column drifts when its PSI or its distance reaches its threshold; the dataset drifts when the share
of drifted columns reaches `drifted_share`. Everything works on counts, so the current data can be
any size: it is binned batch by batch (`profile.BinCounter`) and never held whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mlops.monitoring.profile import FeatureProfile

EPSILON = 1e-4  # share given to an empty bin in PSI, so one empty bin does not make it infinite
PSI_BINS = 10  # numeric PSI is read on reference deciles


@dataclass(frozen=True)
class Thresholds:
    """When a column counts as drifted."""

    psi: float = 0.2
    wasserstein: float = 0.1  # normalised by the reference std
    jensen_shannon: float = 0.1


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column."""

    feature: str
    kind: str
    reference_rows: int
    current_rows: int
    psi: float
    distance: float  # normalised Wasserstein (numeric) or Jensen-Shannon (categorical)
    distance_name: str
    test_statistic: float  # KS D (numeric) or chi-square (categorical)
    p_value: float
    test_name: str
    null_share_reference: float
    null_share_current: float
    psi_threshold: float
    distance_threshold: float
    drifted: bool

    def as_row(self) -> dict[str, object]:
        """Plain dict (a table row)."""
        return asdict(self)


@dataclass(frozen=True)
class DatasetDrift:
    """Drift of every compared column and the dataset-level decision."""

    features: tuple[FeatureDrift, ...]
    drifted_share: float
    share_threshold: float
    ignored: tuple[str, ...] = ()  # computed, not counted in the share

    @property
    def drifted(self) -> bool:
        """True when the share of drifted columns reaches the threshold."""
        return bool(self.features) and self.drifted_share >= self.share_threshold

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted columns that count (ignored ones excluded)."""
        return [f.feature for f in self.features if f.drifted and f.feature not in self.ignored]


def shares(counts: Sequence[int], epsilon: float = EPSILON) -> np.ndarray:
    """Counts as shares, empty bins raised to `epsilon` (all zero: uniform)."""
    values = np.asarray(counts, dtype="float64")
    total = values.sum()
    p = values / total if total > 0 else np.full(values.size, 1.0 / max(values.size, 1))
    return np.where(p == 0, epsilon, p)


def psi(reference: Sequence[int], current: Sequence[int], epsilon: float = EPSILON) -> float:
    """Population Stability Index: sum over bins of (cur - ref) * ln(cur / ref) on shares."""
    p, q = shares(reference, epsilon), shares(current, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def coarsen(reference: Sequence[int], current: Sequence[int], groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive fine bins into about `groups` bins of equal reference share (deciles for 10).

    Profiles keep fine quantile bins (accurate distances and KS); PSI is conventionally read on deciles,
    where its usual thresholds (0.1 watch, 0.2 act) apply.
    """
    ref, cur = np.asarray(reference, "float64"), np.asarray(current, "float64")
    total = ref.sum()
    if total == 0 or ref.size <= groups:
        return ref, cur
    group = np.minimum((np.cumsum(ref) - ref / 2) / total * groups, groups - 1).astype(int)
    return np.bincount(group, weights=ref, minlength=groups), np.bincount(group, weights=cur, minlength=groups)


def wasserstein_normalised(reference: FeatureProfile, current: FeatureProfile) -> float:
    """Wasserstein-1 distance between the binned distributions, each bin's mass at the mean of its values,
    over the reference std (as Evidently's `wasserstein` test on raw data)."""
    from scipy.stats import wasserstein_distance

    ref, cur = np.asarray(reference.counts, "float64"), np.asarray(current.counts, "float64")
    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    distance = wasserstein_distance(reference.locations(), current.locations(), u_weights=ref, v_weights=cur)
    scale = reference.std if reference.std and reference.std > 0 else 1.0
    return float(distance / scale)


def ks_binned(reference: Sequence[int], current: Sequence[int]) -> tuple[float, float]:
    """KS statistic on the binned CDFs (exact at the bin edges) and its asymptotic p-value (scipy kstwo)."""
    from scipy.stats import kstwo

    ref, cur = np.asarray(reference, "float64"), np.asarray(current, "float64")
    n, m = ref.sum(), cur.sum()
    if n == 0 or m == 0:
        return 0.0, 1.0
    statistic = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    effective = max(int(round(n * m / (n + m))), 1)
    return statistic, float(kstwo.sf(statistic, effective))


def chi_square(reference: Sequence[int], current: Sequence[int]) -> tuple[float, float]:
    """Chi-square test that both samples come from one categorical distribution (scipy chi2_contingency)."""
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(reference, "float64"), np.asarray(current, "float64")])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def jensen_shannon(reference: Sequence[int], current: Sequence[int]) -> float:
    """Jensen-Shannon distance between the category shares (scipy, natural log as Evidently: 0 = identical)."""
    from scipy.spatial.distance import jensenshannon

    ref, cur = np.asarray(reference, "float64"), np.asarray(current, "float64")
    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    return float(jensenshannon(ref / ref.sum(), cur / cur.sum()))


def feature_drift(reference: FeatureProfile, current: FeatureProfile, thresholds: Thresholds) -> FeatureDrift:
    """All statistics of one column, and whether it drifted."""
    if reference.kind != current.kind or len(reference.counts) != len(current.counts):
        raise ValueError(f"{reference.name}: current counts are not in the reference's bins")
    if reference.kind == "numeric":
        value = psi(*coarsen(reference.counts, current.counts, PSI_BINS))
        distance, distance_name = wasserstein_normalised(reference, current), "wasserstein_normed"
        statistic, p_value = ks_binned(reference.counts, current.counts)
        test_name, distance_threshold = "ks", thresholds.wasserstein
    else:
        value = psi(reference.counts, current.counts)
        distance, distance_name = jensen_shannon(reference.counts, current.counts), "jensen_shannon"
        statistic, p_value = chi_square(reference.counts, current.counts)
        test_name, distance_threshold = "chi_square", thresholds.jensen_shannon
    compared = sum(current.counts) > 0 and sum(reference.counts) > 0
    return FeatureDrift(
        feature=reference.name,
        kind=reference.kind,
        reference_rows=reference.rows,
        current_rows=current.rows,
        psi=value,
        distance=distance,
        distance_name=distance_name,
        test_statistic=statistic,
        p_value=p_value,
        test_name=test_name,
        null_share_reference=reference.nulls / reference.rows if reference.rows else 0.0,
        null_share_current=current.nulls / current.rows if current.rows else 0.0,
        psi_threshold=thresholds.psi,
        distance_threshold=distance_threshold,
        drifted=compared and (value >= thresholds.psi or distance >= distance_threshold),
    )


def dataset_drift(
    references: Sequence[FeatureProfile],
    currents: Mapping[str, FeatureProfile],
    default: Thresholds,
    per_feature: Mapping[str, Thresholds] | None = None,
    drifted_share: float = 0.3,
    ignore: Sequence[str] = (),
) -> DatasetDrift:
    """Drift of each reference column present in `currents`, and the share of drifted ones among those not ignored."""
    per_feature = per_feature or {}
    results = tuple(
        feature_drift(ref, currents[ref.name], per_feature.get(ref.name, default))
        for ref in references
        if ref.name in currents
    )
    counted = [r for r in results if r.feature not in set(ignore)]
    share = sum(r.drifted for r in counted) / len(counted) if counted else 0.0
    return DatasetDrift(results, share, drifted_share, tuple(ignore))
