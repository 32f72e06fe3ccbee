"""Compliance checks of a registered model version: pure checks over its metadata, and a load-and-predict check."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops.config import PromotionSettings

log = logging.getLogger(__name__)

# What each required tag stands for, and the version/run tags that can hold it (first found wins).
# Training sets mlops.*; the owner is an explicit mlops.owner tag, else the MLflow user who logged the run.
REQUIRED_TAGS: dict[str, tuple[str, ...]] = {
    "code version": ("mlops.code_version",),
    "data version": ("mlops.data_versions",),
    "owner": ("mlops.owner", "mlflow.user"),
}


@dataclass(frozen=True)
class CheckResult:
    """One compliance check: its name, whether it passed, and what was observed vs required."""

    check: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class VersionFacts:
    """What the checks look at, read from the registry, the run and the downloaded model."""

    model_name: str
    version: str
    run_id: str
    tags: dict[str, str]  # version tags, then run tags (version tags win)
    description: str
    metrics: dict[str, float]
    dataset_inputs: int
    has_signature: bool
    has_input_example: bool
    artifact_mb: float


@dataclass(frozen=True)
class ComplianceReport:
    """Every configured check of one version."""

    model_name: str
    version: str
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(r.passed for r in self.results)

    @property
    def reasons(self) -> tuple[str, ...]:
        """`check: detail` of each failed check."""
        return tuple(f"{r.check}: {r.detail}" for r in self.results if not r.passed)

    def summary(self) -> dict[str, Any]:
        """Small JSON-scalar dict for XCom."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "passed": self.passed,
            "checks": len(self.results),
            "failed": "; ".join(self.reasons),
        }


def check_facts(facts: VersionFacts, rule: PromotionSettings) -> list[CheckResult]:
    """The metadata checks listed in `promotion.compliance_checks` (all but `predicts`), pure."""
    checks = {
        "required_tags": _required_tags,
        "description": lambda f, _: _result("description", bool(f.description.strip()), "description is empty"),
        "signature": lambda f, _: _result("signature", f.has_signature, "model logged without a signature"),
        "input_example": lambda f, _: _result("input_example", f.has_input_example, "no input example"),
        "dataset_lineage": lambda f, _: _result(
            "dataset_lineage", f.dataset_inputs > 0, f"run {f.run_id} logged no dataset inputs"
        ),
        "required_metrics": _required_metrics,
        "artifact_size": _artifact_size,
    }
    return [checks[name](facts, rule) for name in rule.compliance_checks if name in checks]


def check_predictions(model: Any, sample: pd.DataFrame) -> CheckResult:
    """The model predicts one probability in [0, 1] per row of `sample` (pyfunc returning predict_proba)."""
    import numpy as np

    if sample.empty:
        return CheckResult("predicts", False, "no current feature rows to predict on")
    try:
        output = np.asarray(model.predict(sample), dtype="float64")
    except Exception as exc:  # noqa: BLE001 - any failure to predict is the finding, recorded with its cause
        return CheckResult("predicts", False, f"predict failed on {len(sample)} rows: {type(exc).__name__}: {exc}")
    proba = output[:, -1] if output.ndim == 2 else output
    if proba.shape[0] != len(sample):
        return CheckResult("predicts", False, f"{proba.shape[0]} predictions for {len(sample)} rows")
    bad = int((~np.isfinite(proba) | (proba < 0) | (proba > 1)).sum())
    if bad:
        return CheckResult("predicts", False, f"{bad} of {len(sample)} probabilities outside [0, 1] or NaN")
    if len(sample) > 1 and np.isin(proba, (0.0, 1.0)).all():
        detail = "predictions are class labels, not probabilities (log with pyfunc_predict_fn='predict_proba')"
        return CheckResult("predicts", False, detail)
    return CheckResult("predicts", True, f"{len(sample)} probabilities in [0, 1], mean {proba.mean():.3f}")


def gather_facts(client: MlflowClient, model_name: str, version: str, folder: Path) -> tuple[VersionFacts, Path]:
    """Read a version's tags, run, datasets and model files (downloaded into `folder`)."""
    import mlflow
    from mlflow.models import Model

    mv = client.get_model_version(model_name, version)
    run = client.get_run(mv.run_id) if mv.run_id else None
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name}/{version}", dst_path=str(folder), tracking_uri=client.tracking_uri
        )
    )
    meta = Model.load(str(local / "MLmodel"))
    size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
    run_tags = dict(run.data.tags) if run else {}
    facts = VersionFacts(
        model_name=model_name,
        version=str(version),
        run_id=mv.run_id or "",
        tags={**run_tags, **(mv.tags or {})},
        description=mv.description or "",
        metrics=dict(run.data.metrics) if run else {},
        dataset_inputs=len(run.inputs.dataset_inputs) if run and run.inputs else 0,
        has_signature=meta.signature is not None,
        has_input_example=meta.saved_input_example_info is not None,
        artifact_mb=size / 1e6,
    )
    return facts, local


def check_compliance(
    client: MlflowClient, rule: PromotionSettings, model_name: str, version: str, sample: pd.DataFrame, folder: Path
) -> ComplianceReport:
    """Run every configured check on a version (model files are downloaded into `folder`)."""
    import mlflow.pyfunc

    facts, local = gather_facts(client, model_name, version, folder)
    results = check_facts(facts, rule)
    if "predicts" in rule.compliance_checks:
        try:
            model = mlflow.pyfunc.load_model(str(local))
        except Exception as exc:  # noqa: BLE001 - a model that does not load fails the check, with its cause
            results.append(CheckResult("predicts", False, f"model does not load: {type(exc).__name__}: {exc}"))
        else:
            results.append(check_predictions(model, sample))
    report = ComplianceReport(model_name, str(version), tuple(results))
    log.info("Compliance of %s v%s: %s", model_name, version, "passed" if report.passed else report.reasons)
    return report


def _result(name: str, ok: bool, failure: str) -> CheckResult:
    return CheckResult(name, ok, "ok" if ok else failure)


def _required_tags(facts: VersionFacts, _: PromotionSettings) -> CheckResult:
    missing = [
        f"{what} ({' or '.join(keys)})"
        for what, keys in REQUIRED_TAGS.items()
        if not any(facts.tags.get(k, "").strip() not in ("", "unknown") for k in keys)
    ]
    return _result("required_tags", not missing, f"missing tags: {', '.join(missing)}")


def _required_metrics(facts: VersionFacts, rule: PromotionSettings) -> CheckResult:
    missing = [m for m in rule.required_metrics if m not in facts.metrics]
    return _result("required_metrics", not missing, f"run {facts.run_id} lacks metrics {missing}")


def _artifact_size(facts: VersionFacts, rule: PromotionSettings) -> CheckResult:
    ok = facts.artifact_mb <= rule.max_artifact_mb
    detail = f"model files {facts.artifact_mb:.2f} MB > promotion.max_artifact_mb {rule.max_artifact_mb} MB"
    return CheckResult("artifact_size", ok, f"{facts.artifact_mb:.2f} MB" if ok else detail)
