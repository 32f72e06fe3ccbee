"""The champion's reference profile: built at training time, stored with the model and in a Delta table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops.errors import Refusal
from mlops.lakehouse import WriterId
from mlops.monitoring.drift import Thresholds
from mlops.monitoring.profile import PREDICTION, FeatureProfile, ReferenceProfile, numeric_profile, profile_frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops.config import MonitoringSettings, Settings
    from mlops.lakehouse import Lakehouse, WriteResult

REFERENCE_PROFILES = "monitoring.reference_profiles"
ARTIFACT = "monitoring/reference_profile.json"


class NoReferenceProfileError(Refusal, LookupError):
    """The model version has no training-time profile to compare the scored data with."""


def build_reference(
    settings: Settings, frame: pd.DataFrame, probabilities: np.ndarray, columns: list[str], source: str
) -> ReferenceProfile:
    """Profiles of the model inputs of `frame` and of the model's predicted probabilities on it."""
    from mlops.usecase import usecase_of

    cfg = settings.monitoring
    features = profile_frame(
        frame,
        usecase_of(settings).model.categorical,
        bins=cfg.profile_bins,
        top=cfg.top_categories,
        columns=[c for c in columns],
    )
    prediction = numeric_profile(PREDICTION, probabilities, cfg.profile_bins)
    return ReferenceProfile(settings.mlflow.model_name, (*features, prediction), source)


def log_reference(profile: ReferenceProfile) -> None:
    """The profile as an artifact of the active MLflow run (next to the model)."""
    import mlflow

    mlflow.log_text(profile.to_json(), ARTIFACT)


def store_reference(lakehouse: Lakehouse, profile: ReferenceProfile, version: str, run_id: str) -> WriteResult:
    """One row per profiled column in monitoring.reference_profiles, once per training run."""
    import pyarrow as pa

    now = datetime.now(UTC)
    rows = [
        {
            "model_name": profile.model_name,
            "model_version": str(version),
            "run_id": run_id,
            "feature": f.name,
            "kind": f.kind,
            "rows": f.rows,
            "nulls": f.nulls,
            "mean": f.mean,
            "std": f.std,
            "counts": json.dumps(list(f.counts)),
            "sums": json.dumps(list(f.sums)),
            "edges": json.dumps([str(e) if abs(e) == float("inf") else e for e in f.edges]),
            "categories": json.dumps(list(f.categories)),
            "source": profile.source,
            "created_at": now,
        }
        for f in profile.features
    ]
    table = pa.Table.from_pylist(rows)
    return lakehouse.append(REFERENCE_PROFILES, table, writer=WriterId(f"reference_profiles/{run_id}"))


def load_reference(lakehouse: Lakehouse, model_name: str, version: str) -> ReferenceProfile:
    """The stored profile of one model version.

    Raises:
        NoReferenceProfileError: the version has no stored profile (trained before profiles existed, or by hand).
    """
    filters = [("model_name", "=", model_name), ("model_version", "=", str(version))]
    if not lakehouse.exists(REFERENCE_PROFILES):
        raise NoReferenceProfileError(f"No {REFERENCE_PROFILES} table: no model was trained with a profile yet")
    rows = lakehouse.read_pandas(REFERENCE_PROFILES, filters=filters)
    if rows.empty:
        raise NoReferenceProfileError(f"{model_name} v{version} has no reference profile in {REFERENCE_PROFILES}")
    rows = rows[rows["run_id"] == rows["run_id"].iloc[-1]]
    features = tuple(
        FeatureProfile(
            name=r.feature,
            kind=r.kind,
            counts=tuple(json.loads(r.counts)),
            nulls=int(r.nulls),
            edges=tuple(float(e) for e in json.loads(r.edges)),
            categories=tuple(json.loads(r.categories)),
            mean=None if r.mean != r.mean else r.mean,
            std=None if r.std != r.std else r.std,
            sums=tuple(json.loads(r.sums)),
        )
        for r in rows.itertuples()
    )
    return ReferenceProfile(model_name, features, str(rows["source"].iloc[0]))


def thresholds(cfg: MonitoringSettings) -> tuple[Thresholds, dict[str, Thresholds]]:
    """The default drift thresholds and the per-feature overrides from config."""
    default = Thresholds(cfg.psi_threshold, cfg.wasserstein_threshold, cfg.jensen_shannon_threshold)
    overrides = {
        name: Thresholds(
            t.psi or default.psi, t.wasserstein or default.wasserstein, t.jensen_shannon or default.jensen_shannon
        )
        for name, t in cfg.feature_thresholds.items()
    }
    return default, overrides
