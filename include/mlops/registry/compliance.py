"""Compliance checks of a registered model version: pure checks over its metadata, and a load-and-predict check."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.task_metrics import guard_metric, primary_metric

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient

    from mlops.config import PromotionSettings
    from mlops.task_metrics import TaskType
    from mlops.usecase import ModelSpec

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


def check_facts(facts: VersionFacts, rule: PromotionSettings, task: TaskType) -> list[CheckResult]:
    """The metadata checks listed in `promotion.compliance_checks` (all but `predicts`), pure; the required
    metrics default to the task's (`required_metrics`)."""
    checks = {
        "required_tags": _required_tags,
        "description": lambda f, _: _result("description", bool(f.description.strip()), "description is empty"),
        "signature": lambda f, _: _result("signature", f.has_signature, "model logged without a signature"),
        "input_example": lambda f, _: _result("input_example", f.has_input_example, "no input example"),
        "dataset_lineage": lambda f, _: _result(
            "dataset_lineage", f.dataset_inputs > 0, f"run {f.run_id} logged no dataset inputs"
        ),
        "required_metrics": lambda f, r: _required_metrics(f, required_metrics(r, task)),
        "artifact_size": _artifact_size,
    }
    return [checks[name](facts, rule) for name in rule.compliance_checks if name in checks]


def required_metrics(rule: PromotionSettings, task: TaskType) -> tuple[str, ...]:
    """`promotion.required_metrics`, else the run metrics the rule reads: test primary and guard, baseline primary
    (binary: test_roc_auc, test_log_loss, baseline_roc_auc)."""
    if rule.required_metrics is not None:
        return rule.required_metrics
    primary, guard = primary_metric(task).name, guard_metric(task).name
    return (f"test_{primary}", f"test_{guard}", f"baseline_{primary}")


def check_predictions(model: Any, sample: pd.DataFrame, spec: ModelSpec) -> CheckResult:
    """The model predicts what its task type needs, one per row of `sample`: a probability in [0, 1] (binary,
    pyfunc returning predict_proba), a row of class probabilities summing to 1 (multiclass), a finite number
    (regression)."""
    import numpy as np

    if sample.empty:
        return CheckResult("predicts", False, "no current feature rows to predict on")
    try:
        output = model.predict(sample)
        values = np.asarray(output.to_numpy() if hasattr(output, "to_numpy") else output, dtype="float64")
    except Exception as exc:  # noqa: BLE001 - any failure to predict is the finding, recorded with its cause
        return CheckResult("predicts", False, f"predict failed on {len(sample)} rows: {type(exc).__name__}: {exc}")
    if values.ndim == 0 or values.shape[0] != len(sample):
        return CheckResult(
            "predicts", False, f"{values.shape[0] if values.ndim else 0} predictions for {len(sample)} rows"
        )
    checks = {"binary": _binary_output, "multiclass": _multiclass_output, "regression": _regression_output}
    return checks[spec.task](values, spec)


def _binary_output(output: np.ndarray, _: ModelSpec) -> CheckResult:
    import numpy as np

    proba, rows = (output[:, -1] if output.ndim == 2 else output), len(output)
    bad = int((~np.isfinite(proba) | (proba < 0) | (proba > 1)).sum())
    if bad:
        return CheckResult("predicts", False, f"{bad} of {rows} probabilities outside [0, 1] or NaN")
    if rows > 1 and np.isin(proba, (0.0, 1.0)).all():
        detail = "predictions are class labels, not probabilities (log with pyfunc_predict_fn='predict_proba')"
        return CheckResult("predicts", False, detail)
    return CheckResult("predicts", True, f"{rows} probabilities in [0, 1], mean {proba.mean():.3f}")


def _multiclass_output(output: np.ndarray, spec: ModelSpec) -> CheckResult:
    import numpy as np

    from mlops.task_metrics import ROW_SUM_TOLERANCE

    k, rows = len(spec.classes or ()), len(output)
    if output.ndim != 2 or output.shape[1] != k:
        detail = (
            f"output of shape {output.shape}, not one probability per class of {list(spec.classes or ())} per row "
            "(log with pyfunc_predict_fn='predict_proba')"
        )
        return CheckResult("predicts", False, detail)
    bad = int((~np.isfinite(output) | (output < 0) | (output > 1)).any(axis=1).sum())
    bad += int((np.abs(np.nan_to_num(output).sum(axis=1) - 1) > ROW_SUM_TOLERANCE).sum())
    if bad:
        return CheckResult("predicts", False, f"{bad} of {rows} rows are not probabilities in [0, 1] summing to 1")
    return CheckResult(
        "predicts", True, f"{rows} rows of {k} class probabilities, mean top {output.max(axis=1).mean():.3f}"
    )


def _regression_output(output: np.ndarray, _: ModelSpec) -> CheckResult:
    import numpy as np

    if output.ndim == 2 and output.shape[1] != 1:
        return CheckResult("predicts", False, f"output of shape {output.shape}, not one value per row")
    values, rows = output.reshape(len(output)), len(output)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        return CheckResult("predicts", False, f"{bad} of {rows} predictions are NaN or infinite")
    return CheckResult("predicts", True, f"{rows} finite predictions, mean {values.mean():.4g}")


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
    client: MlflowClient,
    rule: PromotionSettings,
    model_name: str,
    version: str,
    sample: pd.DataFrame,
    folder: Path,
    spec: ModelSpec,
) -> ComplianceReport:
    """Run every configured check on a version of a model of `spec` (model files are downloaded into `folder`)."""
    import mlflow.pyfunc

    facts, local = gather_facts(client, model_name, version, folder)
    results = check_facts(facts, rule, spec.task)
    if "predicts" in rule.compliance_checks:
        try:
            model = mlflow.pyfunc.load_model(str(local))
        except Exception as exc:  # noqa: BLE001 - a model that does not load fails the check, with its cause
            results.append(CheckResult("predicts", False, f"model does not load: {type(exc).__name__}: {exc}"))
        else:
            results.append(check_predictions(model, sample, spec))
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


def _required_metrics(facts: VersionFacts, required: tuple[str, ...]) -> CheckResult:
    missing = [m for m in required if m not in facts.metrics]
    return _result("required_metrics", not missing, f"run {facts.run_id} lacks metrics {missing}")


def _artifact_size(facts: VersionFacts, rule: PromotionSettings) -> CheckResult:
    ok = facts.artifact_mb <= rule.max_artifact_mb
    detail = f"model files {facts.artifact_mb:.2f} MB > promotion.max_artifact_mb {rule.max_artifact_mb} MB"
    return CheckResult("artifact_size", ok, f"{facts.artifact_mb:.2f} MB" if ok else detail)
