"""Drift statistics from binned counts: cross-checked with scipy on the raw data and with Evidently."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlops.monitoring.drift import Thresholds, dataset_drift, feature_drift, psi
from mlops.monitoring.profile import OTHER, BinCounter, ReferenceProfile, categorical_profile, numeric_profile

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry stays off in tests

RNG = np.random.default_rng(7)
N = 40_000


def _binned(reference: np.ndarray, current: np.ndarray, bins: int = 100):
    ref = numeric_profile("x", reference, bins)
    counter = BinCounter(ref)
    counter.add(pa.array(current))
    return ref, counter.profile()


def test_numeric_statistics_match_scipy_on_the_raw_data():
    reference, current = RNG.normal(0, 1, N), RNG.normal(0.3, 1.2, N)
    ref, cur = _binned(reference, current)
    drift = feature_drift(ref, cur, Thresholds())
    raw_ks = stats.ks_2samp(reference, current).statistic
    raw_w = stats.wasserstein_distance(reference, current) / reference.std()
    assert drift.test_statistic == pytest.approx(raw_ks, abs=0.01)  # exact at the 100 percentile edges
    assert drift.distance == pytest.approx(raw_w, rel=0.01)  # bins' mass at their means: close to raw
    deciles = np.quantile(reference, np.linspace(0, 1, 11))
    deciles[0], deciles[-1] = -np.inf, np.inf
    raw_psi = psi(np.histogram(reference, deciles)[0], np.histogram(current, deciles)[0])
    assert drift.psi == pytest.approx(raw_psi, rel=0.05)
    assert drift.drifted and drift.p_value < 1e-6


def test_categorical_statistics_match_scipy_on_the_raw_data():
    values = np.array(["AA", "B6", "DL", "EV", "UA"])
    reference = RNG.choice(values, N, p=[0.2, 0.2, 0.2, 0.2, 0.2])
    current = RNG.choice(values, N, p=[0.3, 0.15, 0.2, 0.2, 0.15])
    ref = categorical_profile("carrier", reference.tolist(), top=30)
    counter = BinCounter(ref)
    counter.add(pa.array(current.tolist()))
    drift = feature_drift(ref, counter.profile(), Thresholds())
    table = pd.crosstab(np.r_[np.zeros(N), np.ones(N)], np.r_[reference, current]).to_numpy()
    expected = stats.chi2_contingency(table, correction=False)
    assert drift.test_statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert drift.p_value == pytest.approx(expected.pvalue, abs=1e-12)
    p = pd.Series(reference).value_counts(normalize=True).sort_index()
    q = pd.Series(current).value_counts(normalize=True).sort_index()
    assert drift.distance == pytest.approx(jensenshannon(p, q), rel=1e-9)


def test_stable_data_does_not_drift_and_shifted_data_does():
    reference = RNG.normal(10, 2, N)
    same, shifted = _binned(reference, RNG.normal(10, 2, N)), _binned(reference, RNG.normal(11, 2, N))
    quiet, loud = feature_drift(*same, Thresholds()), feature_drift(*shifted, Thresholds())
    assert not quiet.drifted and quiet.psi < 0.01 and quiet.distance < 0.05
    assert loud.drifted and loud.psi > 0.2 and loud.distance > 0.4


def test_unseen_categories_pool_as_other_and_nulls_count_apart():
    ref = categorical_profile("dest", ["ATL", "ORD", "ATL", None], top=1)
    assert ref.categories == ("ATL", OTHER) and ref.counts == (2, 1) and ref.nulls == 1
    counter = BinCounter(ref)
    counter.add(pa.array(["SFO", "ATL", None, None]))
    assert counter.profile().counts == (1, 1) and counter.profile().nulls == 2


def test_streamed_batches_give_the_same_counts_as_one_array():
    reference, current = RNG.gamma(2, 3, N), RNG.gamma(2, 3.3, N)
    ref = numeric_profile("x", reference, 50)
    whole, streamed = BinCounter(ref), BinCounter(ref)
    whole.add(pa.array(current))
    for chunk in np.array_split(current, 7):
        streamed.add(pa.array(chunk))
    assert whole.profile().counts == streamed.profile().counts and sum(whole.profile().counts) == N
    np.testing.assert_allclose(whole.profile().sums, streamed.profile().sums, rtol=1e-12)


def test_dataset_rule_uses_the_share_of_drifted_features_and_per_feature_thresholds():
    reference = RNG.normal(0, 1, N)
    profiles = {name: _binned(reference, RNG.normal(shift, 1, N)) for name, shift in (("a", 0), ("b", 0), ("c", 1))}
    refs, currents = [p[0] for p in profiles.values()], {n: p[1] for n, p in profiles.items()}
    for ref, name in zip(refs, profiles, strict=True):
        object.__setattr__(ref, "name", name)
    for name, cur in currents.items():
        object.__setattr__(cur, "name", name)
    result = dataset_drift(refs, currents, Thresholds(), drifted_share=0.3)
    assert result.drifted_features == ["c"] and result.drifted_share == pytest.approx(1 / 3) and result.drifted
    lenient = dataset_drift(refs, currents, Thresholds(), {"c": Thresholds(psi=99, wasserstein=99)}, 0.3)
    assert lenient.drifted_features == [] and not lenient.drifted


def test_profile_survives_json_round_trip():
    profile = ReferenceProfile(
        "m", (numeric_profile("x", RNG.normal(0, 1, 1000), 10), categorical_profile("c", ["a", "b"], 5)), "test"
    )
    assert ReferenceProfile.from_json(profile.to_json()) == profile


def test_statistics_agree_with_evidently_on_the_same_columns():
    from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
    from evidently.legacy.calculations.stattests.psi import _psi
    from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
    from evidently.legacy.core import ColumnType

    from mlops.monitoring.drift import jensen_shannon

    reference, current = RNG.normal(5, 2, N), RNG.normal(5.4, 2.2, N)
    ref, cur = _binned(reference, current)
    ours = feature_drift(ref, cur, Thresholds())
    theirs, drifted = _wasserstein_distance_norm(pd.Series(reference), pd.Series(current), ColumnType.Numerical, 0.1)
    assert ours.distance == pytest.approx(theirs, rel=0.01) and ours.distance >= 0.1 and drifted
    # PSI and Jensen-Shannon: the same formulas on the same bins (Evidently's Sturges bins over both samples).
    edges = np.histogram_bin_edges(np.r_[reference, current], bins="sturges")
    their_psi, _ = _psi(pd.Series(reference), pd.Series(current), ColumnType.Numerical, 0.1)
    assert psi(np.histogram(reference, edges)[0], np.histogram(current, edges)[0]) == pytest.approx(their_psi, rel=1e-6)
    cats_ref = pd.Series(RNG.choice(list("abcd"), N, p=[0.4, 0.3, 0.2, 0.1]))
    cats_cur = pd.Series(RNG.choice(list("abcd"), N, p=[0.3, 0.3, 0.25, 0.15]))
    their_js, _ = _jensenshannon(cats_ref, cats_cur, ColumnType.Categorical, 0.1)
    counts = [cats_ref.value_counts().sort_index().to_numpy(), cats_cur.value_counts().sort_index().to_numpy()]
    assert jensen_shannon(*counts) == pytest.approx(their_js, rel=1e-9)
    their_cat_psi, _ = _psi(cats_ref, cats_cur, ColumnType.Categorical, 0.1)
    assert psi(*counts) == pytest.approx(their_cat_psi, rel=1e-9)


def test_ignored_features_are_computed_but_not_counted():
    reference = RNG.normal(0, 1, N)
    ref, cur = _binned(reference, RNG.normal(2, 1, N))
    result = dataset_drift([ref], {"x": cur}, Thresholds(), drifted_share=0.3, ignore=["x"])
    assert result.features[0].drifted and result.drifted_features == [] and not result.drifted
